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
--
-- Only writes the sidecar has to act on wake it (issue 17): OnUpdatedStudy fires for every
-- metadata write, the sidecar's own four per study included (its status, the FHIR Bundle), and each
-- of those wake-ups cost a read of the feed and a check of the study, so a burst went slower with
-- the script than without it, and Orthanc, which runs these callbacks one at a time, woke the
-- sidecar late for new marks queued behind them. A write wakes the sidecar when the study carries a
-- mark (KidneyVolumesPending) and either the mark is one this script has not seen yet, or the
-- status is absent (never claimed, or removed) or "queued" (a retry request). The sidecar's own
-- writes change neither the mark nor, ever, the status to "queued". Which marks were seen is kept
-- in memory, bounded: when full it is forgotten, which costs one more wake-up per study, nothing else.
-- The metadata is read whole (metadata?expand), FHIR Bundle included: measured, that read and its
-- ParseJson cost Orthanc about 0.1 ms per call, one round trip, where reading single values takes
-- two or three (a name list, then each value) for the same answer.
--
-- A study becoming stable (OnStableStudy) does not wake it: the sidecar reads that StableStudy change
-- at its next poll (KV_POLL_INTERVAL_MS, 250 ms by default) to look for images added to a done study,
-- a change that came StableAge seconds (60 by default) after the last image anyway. Waking for it
-- cost a call for every study the sidecar finished, since its own report series makes the study
-- stable again, and each HttpPost costs Orthanc's one Lua thread about 0.5 ms of CPU, several times
-- the read of the study's metadata (measured in a burst of 500 marks, issue 17).
--
-- Measurements that arrive inside DICOM carry no mark: a SEG series, or another system's TID 1500
-- report (an SR series), becomes a mark only when the sidecar reads Orthanc's StableSeries change.
-- OnStableSeries wakes it for those two modalities, so such a study does not wait for the next poll;
-- our own report series (Manufacturer and SeriesDescription below, as the sidecar tells it apart)
-- does not wake it (test/sidecar/lua-wakes.test.ts checks that against a report the real CLI wrote).
-- Other SRs, a scanner's dose report say, wake it too: series main tags carry no SOP class; the
-- sidecar reads such a series at StableSeries anyway, so it costs one read of the feed sooner.
-- The original tool's private block in image series cannot be told from the main tags Orthanc hands
-- the callback; those series are left to the poll.

local sidecar = os.getenv('KV_SIDECAR_URL') or 'http://127.0.0.1:8080'
local secret = os.getenv('KV_HOOK_TOKEN') or ''

local PENDING = 'KidneyVolumesPending'
local STATUS = 'KidneyVolumesStatus'
-- Our own report series, as src/dicom/sr/document.ts writes it (SR_SERIES_DESCRIPTION, DEFAULT_DEVICE_NAME).
local OWN_SR_DESCRIPTION = 'Kidney Volume Measurements'
local OWN_SR_MANUFACTURER = 'kidney-volumes'
-- Studies whose mark is remembered; a burst of marks in flight is far fewer.
local REMEMBERED = 5000

if secret == '' then
  print('kidney-volumes: KV_HOOK_TOKEN is not set in Orthanc\'s environment; the sidecar is not woken ' ..
    'and finds new marks at its next poll of the changes feed')
end

-- studyId -> the mark seen at the last wake-up for it
local seenMarks = {}
local seenCount = 0

-- what: the resource the wake-up is for, as the log names it ('study <id>', 'series <id>').
local function wake(what)
  if secret == '' then
    return
  end
  -- HttpPost does not raise when the sidecar is unreachable: it answers nil (and Orthanc logs the
  -- libcurl error). pcall covers a Lua error too, so a wake-up never disturbs Orthanc's own work.
  local ok, answer = pcall(HttpPost, sidecar .. '/hooks/orthanc', '', { ['X-KV-Hook-Token'] = secret })
  if not ok or answer == nil then
    print('kidney-volumes: could not wake the sidecar at ' .. sidecar .. ' (' .. tostring(answer) ..
      ': down, or KV_HOOK_TOKEN differs from the sidecar\'s); it finds ' .. what .. ' at its next poll')
  end
end

-- The study's metadata, name to value; nil when it cannot be read (deleted meanwhile, an error).
local function metadataOf(studyId)
  local ok, body = pcall(RestApiGet, '/studies/' .. studyId .. '/metadata?expand')
  if not ok or body == nil or body == '' then
    return nil
  end
  local parsed, metadata = pcall(ParseJson, body)
  if not parsed or type(metadata) ~= 'table' then
    return nil
  end
  return metadata
end

-- Whether the status asks the sidecar for work: absent while marked, or a retry request.
local function statusWantsWork(status)
  if status == nil then
    return true
  end
  local ok, parsed = pcall(ParseJson, status)
  return ok and type(parsed) == 'table' and parsed['state'] == 'queued'
end

local function remember(studyId, mark)
  if seenMarks[studyId] == nil then
    if seenCount >= REMEMBERED then
      seenMarks = {}
      seenCount = 0
    end
    seenCount = seenCount + 1
  end
  seenMarks[studyId] = mark
end

-- Fires when a study's metadata is written: ours (a mark) or the sidecar's (status, FHIR).
function OnUpdatedStudy(studyId)
  local metadata = metadataOf(studyId)
  if metadata == nil then
    -- Cannot tell: a wake-up too many costs one read of the feed.
    wake('study ' .. studyId)
    return
  end
  local mark = metadata[PENDING]
  if mark == nil then
    -- Nothing for the sidecar to do in a study without a mark.
    return
  end
  local newMark = seenMarks[studyId] ~= mark
  remember(studyId, mark)
  if newMark or statusWantsWork(metadata[STATUS]) then
    wake('study ' .. studyId)
  end
end

-- Fires when no new instance arrived in a series for StableAge seconds. The sidecar reads SEG and SR
-- series at that moment (StableSeries in the changes feed, logged before this callback runs); other
-- modalities are left to the poll (see the top of this file).
function OnStableSeries(seriesId, tags, metadata)
  local modality = tags['Modality']
  if modality == 'SEG' then
    wake('series ' .. seriesId)
  elseif modality == 'SR' and not (tags['Manufacturer'] == OWN_SR_MANUFACTURER and
      tags['SeriesDescription'] == OWN_SR_DESCRIPTION) then
    wake('series ' .. seriesId)
  end
end
