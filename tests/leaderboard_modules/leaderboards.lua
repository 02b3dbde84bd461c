-- The reference Nakama's side of tests/leaderboard_modules/leaderboards.py: copy this
-- file into the reference's data/modules directory before running the leaderboard
-- conformance cases with NAKAMA_RT_REFERENCE (see tests/test_conformance_leaderboards.py).
local nk = require("nakama")

local function lb_create(context, payload)
  local p = nk.json_decode(payload)
  local enable_ranks = p.enable_ranks
  if enable_ranks == nil then enable_ranks = true end
  nk.leaderboard_create(p.id, p.authoritative or false, p.sort or "desc", p.operator or "best",
    p.reset or "", p.metadata or {}, enable_ranks)
  return "{}"
end

local function lb_write(context, payload)
  local p = nk.json_decode(payload)
  nk.leaderboard_record_write(p.id, p.owner_id, p.username or "", p.score or 0, p.subscore or 0,
    p.metadata, p.operator or "")
  return "{}"
end

nk.register_rpc(lb_create, "lb_create")
nk.register_rpc(lb_write, "lb_write")
