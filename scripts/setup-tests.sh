#!/usr/bin/env bash
# Installs what the test suite needs beyond scripts/setup.sh, when missing: the validators (dcmtk,
# dicom3tools, PixelMed with a JRE), docker-compose for the compose checks, openssl, gcc and
# libssl-dev for the https tests (test/helpers/pki.ts explains), and PostgreSQL with Orthanc's
# index plugin for the replica tests (test/scale), and the DICOMweb plugin (test/delivery/dicomweb).
set -euo pipefail
missing=()
command -v dsrdump >/dev/null 2>&1 || missing+=(dcmtk)
command -v dciodvfy >/dev/null 2>&1 || missing+=(dicom3tools)
[ -f /usr/share/java/pixelmed.jar ] || missing+=(pixelmed-apps)
command -v java >/dev/null 2>&1 || missing+=(default-jre-headless)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v script >/dev/null 2>&1 || missing+=(bsdutils)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
[ -f /usr/include/openssl/ssl.h ] || missing+=(libssl-dev)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
[ -f /usr/share/orthanc/plugins/libOrthancPostgreSQLIndex.so ] || missing+=(orthanc-postgresql)
# The DICOMweb delivery tests: a second Orthanc with the DICOMweb plugin receives the STOW-RS.
[ -f /usr/share/orthanc/plugins/libOrthancDicomWeb.so ] || missing+=(orthanc-dicomweb)
# The dashboard's browser tests drive Debian's chromium through playwright-core, which downloads no browser.
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup-tests: installing Debian packages: ${missing[*]}"
  bash "$(dirname "$0")/apt-install.sh" "${missing[@]}"
fi
echo "setup-tests: done"
