-- wrk script for scripts/load.sh and scripts/profile.sh: GET /api/me with the
-- tokens of the file named by $TOKENS (one per line), in turn.
local tokens = {}
for line in io.lines(os.getenv("TOKENS")) do tokens[#tokens + 1] = line end
local i = 0
request = function()
  i = i % #tokens + 1
  return wrk.format("GET", "/api/me", { ["Authorization"] = "Bearer " .. tokens[i] })
end
