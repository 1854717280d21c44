// echo.js - the node `ws` echo server bench/ws.sh compares srv against.
//
//   node echo.js PORT [WORKERS=1]
//
// Sends every message back as it came (text as text, binary as binary) on
// ws://127.0.0.1:PORT/echo, without permessage-deflate, like
// bench/ws_echo.srv; GET /plaintext answers "Hello, World!" so the script
// can tell the server is up.  WORKERS 1 serves from this one process;
// WORKERS > 1 forks that many with the cluster module (the primary only
// supervises; the workers share the listening socket).
'use strict';
const cluster = require('node:cluster');
const http = require('node:http');
const { WebSocketServer } = require('ws');

const port = Number(process.argv[2] || 8080);
const workers = Number(process.argv[3] || 1);

function serve() {
    const server = http.createServer((req, res) => {
        if (req.url === '/plaintext') {
            res.writeHead(200, { 'Content-Type': 'text/plain' });
            res.end('Hello, World!');
        } else {
            res.writeHead(404);
            res.end();
        }
    });
    const wss = new WebSocketServer({ server, path: '/echo', perMessageDeflate: false });
    wss.on('connection', (ws) => {
        ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    });
    server.listen(port, '127.0.0.1');
}

if (workers > 1 && cluster.isPrimary) {
    for (let i = 0; i < workers; i++) cluster.fork();
    cluster.on('exit', (w, code, signal) => {
        console.error(`echo.js: worker ${w.process.pid} exited (${signal || code})`);
    });
} else {
    serve();
}
