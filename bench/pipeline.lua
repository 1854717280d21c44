-- pipeline.lua DEPTH: wrk sends DEPTH requests per write on each connection.
-- wrk counts the requests in the string it is given and waits for that many
-- responses before sending the next batch.
local batch
function init(args)
    local depth = tonumber(args[1]) or 16
    local one = wrk.format("GET", "/plaintext")
    batch = string.rep(one, depth)
end
function request()
    return batch
end
