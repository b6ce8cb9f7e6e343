-- Instant wake-up of the kidney-volumes sidecar, with Orthanc's built-in Lua (no plugin).
-- Enable it with "LuaScripts": ["/etc/orthanc/kidney-volumes.lua"] and set KV_SIDECAR_URL in
-- Orthanc's environment (default http://127.0.0.1:8080). The sidecar follows Orthanc's changes
-- feed anyway: a call that is lost costs latency, never a study.

local sidecar = os.getenv('KV_SIDECAR_URL') or 'http://127.0.0.1:8080'

local function wake(studyId)
  -- pcall: an unreachable sidecar must never disturb Orthanc's own work.
  local ok, err = pcall(HttpPost, sidecar .. '/hooks/orthanc', studyId)
  if not ok then
    print('kidney-volumes: could not wake the sidecar at ' .. sidecar .. ': ' .. tostring(err))
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
