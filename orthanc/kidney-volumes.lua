-- Instant wake-up of the kidney-volumes sidecar, with Orthanc's built-in Lua (no plugin).
-- Enable it with "LuaScripts": ["/etc/orthanc/kidney-volumes.lua"] and set, in Orthanc's
-- environment, KV_HOOK_TOKEN (the same value as the sidecar's) and KV_SIDECAR_URL (default
-- http://127.0.0.1:8080). The sidecar follows Orthanc's changes feed anyway: a call that is lost,
-- or not made because no secret is set, costs latency, never a study.
--
-- The call carries no study: it only asks the sidecar to read the changes feed now, so the hook
-- cannot be used to make the sidecar read studies of anyone's choosing. The secret travels in a
-- header (Orthanc's HttpPost(url, body, headers) sends them; checked on Orthanc 1.10). Its name
-- does not end in _SECRET: the orthancteam/orthanc image reads such variables as secret file names.

local sidecar = os.getenv('KV_SIDECAR_URL') or 'http://127.0.0.1:8080'
local secret = os.getenv('KV_HOOK_TOKEN') or ''

if secret == '' then
  print('kidney-volumes: KV_HOOK_TOKEN is not set in Orthanc\'s environment; the sidecar is not woken ' ..
    'and finds new marks at its next poll of the changes feed')
end

local function wake(studyId)
  if secret == '' then
    return
  end
  -- HttpPost does not raise when the sidecar is unreachable: it answers nil (and Orthanc logs the
  -- libcurl error). pcall covers a Lua error too, so a wake-up never disturbs Orthanc's own work.
  local ok, answer = pcall(HttpPost, sidecar .. '/hooks/orthanc', '', { ['X-KV-Hook-Token'] = secret })
  if not ok or answer == nil then
    print('kidney-volumes: could not wake the sidecar at ' .. sidecar .. ' (' .. tostring(answer) ..
      ': down, or KV_HOOK_TOKEN differs from the sidecar\'s); it finds study ' .. studyId .. ' at its next poll')
  end
end

-- Fires when a study's metadata is written, e.g. KidneyVolumesPending.
function OnUpdatedStudy(studyId)
  wake(studyId)
end

-- Fires when no new instance arrived for StableAge seconds.
function OnStableStudy(studyId, tags, metadata)
  wake(studyId)
end
