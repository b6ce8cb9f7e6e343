-- Instant wake-up of the kidney-volumes sidecar, with Orthanc's built-in Lua (no plugin).
-- Enable it with "LuaScripts": ["/etc/orthanc/kidney-volumes.lua"] and set KV_SIDECAR_URL in
-- Orthanc's environment (default http://127.0.0.1:8080). The sidecar follows Orthanc's changes
-- feed anyway: a call that is lost costs latency, never a study.

local sidecar = os.getenv('KV_SIDECAR_URL') or 'http://127.0.0.1:8080'

local function wake(studyId)
  -- HttpPost does not raise when the sidecar is unreachable: it answers nil (and Orthanc logs the
  -- libcurl error). pcall covers a Lua error too, so a wake-up never disturbs Orthanc's own work.
  local ok, answer = pcall(HttpPost, sidecar .. '/hooks/orthanc', studyId)
  if not ok or answer == nil then
    print('kidney-volumes: could not wake the sidecar at ' .. sidecar .. ' (' .. tostring(answer) ..
      '); it finds study ' .. studyId .. ' at its next poll')
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
