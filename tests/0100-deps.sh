#!/bin/bash
# scripts/deps.sh: quiet when every package is present; when some are
# missing and we are not root, it names them in the exact apt-get line and
# fails. (Fake dpkg-query and id on PATH; nothing is installed.)
set -u
n=0 fail=0
ok() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi; }
fake=${ST_TMP:-/tmp}/fakebin
mkdir -p "$fake"
cat > "$fake/dpkg-query" <<'SH'
#!/bin/sh
pkg=$(eval echo \${$#})
case " $MISSING " in *" $pkg "*) echo "unknown ok not-installed";; *) echo "install ok installed";; esac
SH
printf '#!/bin/sh\necho ${FAKE_UID:-0}\n' > "$fake/id"
chmod +x "$fake/dpkg-query" "$fake/id"

out=$(PATH=$fake:$PATH MISSING="" FAKE_UID=0 sh scripts/deps.sh 2>&1); rc=$?
ok $rc "all present: exit 0"
[ -z "$out" ]; ok $? "all present: prints nothing"

out=$(PATH=$fake:$PATH MISSING="re2c libjwt-dev" FAKE_UID=1000 sh scripts/deps.sh 2>&1); rc=$?
[ $rc != 0 ]; ok $? "missing as non-root: fails"
echo "$out" | grep -qx 'run: sudo apt-get update && sudo apt-get install -y re2c libjwt-dev'
ok $? "and prints the exact command naming only the missing packages"

for p in libwebsockets-dev libjwt-dev libpq-dev postgresql-15 re2c flatbuffers-compiler \
	 libflatbuffers-dev libjansson-dev postgresql-15-pgtap; do
	grep -q "$p" scripts/deps.sh; ok $? "deps covers $p"
done
echo "1..$n"
exit $fail
