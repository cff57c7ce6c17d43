#!/bin/sh
# The file-system rows of BENCHMARKS.md, each next to the tool a user would otherwise pick:
#
#   B4  sequential read and write of a BENCH_SIZE file (1G; --quick 256M) through a FUSE
#       mount of `ninefold exportfs` vs native (page cache warm) vs sshfs over loopback
#   B5  `ls -l` of a directory of 10,000 files (--quick 1,000), then lstat of each, through
#       the same mounts
#   B7  `ninefold newns -- true` vs `bwrap --bind / / true` vs `unshare -rm true`
#
#   bench/fs.sh --bench PATH --ninefold PATH [--quick] [--runs N] [--files N] [--only b4,b5,b7]
#   (bench/run b4 b5 b7 [--quick] and bench/run.sh fs [--quick] … build both and call this)
#
# The ninefold mount is the real path a user takes: `ninefold exportfs -r DIR --listen
# unix!SOCK`, and inside a `ninefold newns` session `ninefold mount -c unix!SOCK /n/x`; the
# measured commands enter that session's user and mount namespaces with nsenter(1). sshfs
# talks to a private sshd on 127.0.0.1 (temporary host and user keys, the faster of
# aes128-gcm and chacha20-poly1305 as measured here, Compression=no). Needs root (sshd,
# nsenter). Installs bubblewrap, openssh-server and sshfs with apt-get when missing; a
# column whose tool is still missing is skipped, saying why. Everything started is killed by
# its pid and everything mounted unmounted on the way out. Prints a markdown table on
# stdout, with `note | ROW | …` lines before it and `goal | ROW | GOAL | RESULT | STATUS`
# lines after it (for bench/run's report); progress on stderr.
set -eu

bench='' ninefold='' quick=0 runs='' files='' only=b4,b5,b7
while [ $# -gt 0 ]; do
    case $1 in
    --bench) bench=$2; shift 2 ;;
    --ninefold) ninefold=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    --runs) runs=$2; shift 2 ;;
    --files) files=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    *) echo "usage: bench/fs.sh --bench PATH --ninefold PATH [--quick] [--runs N] [--files N] [--only b4,b5,b7]" >&2; exit 2 ;;
    esac
done
[ -n "$bench" ] && [ -n "$ninefold" ] || { echo "bench/fs.sh: --bench and --ninefold are needed" >&2; exit 2; }
if [ "$quick" = 1 ]; then
    size=${BENCH_SIZE:-256M} nfiles=${files:-1000} fsruns=${runs:-2} b7runs=${runs:-5}
    # The cipher race below: bytes through ssh per try, tries per cipher.
    probe=33554432 tries=1
else
    size=${BENCH_SIZE:-1G} nfiles=${files:-10000} fsruns=${runs:-5} b7runs=${runs:-30}
    probe=268435456 tries=3
fi
want() { case ",$only," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
say() { echo "fs.sh: $*" >&2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ninefold-fs.XXXXXX")
pids='' sshfs_mounted=0 session=''
cleanup() {
    set +e
    [ "$sshfs_mounted" = 1 ] && fusermount3 -u "$tmp/sshfs"
    for p in $session $pids; do kill "$p" 2>/dev/null; done
    for p in $pids; do wait "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# "median min max" of the numbers in a file, one a line.
stats() { sort -n "$1" | awk '{v[NR]=$1} END {m = NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2; printf "%s %s %s\n", m, v[1], v[NR]}'; }
have() { command -v "$1" >/dev/null 2>&1; }
install() {
    have "$1" && return 0
    say "installing $2…"
    apt-get install -y --no-install-recommends "$2" >"$tmp/apt.log" 2>&1 ||
        { apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends "$2" >"$tmp/apt.log" 2>&1; } ||
        say "could not install $2"
    have "$1"
}
# One timed run: microseconds from spawn to exit.
t() { "$bench" time "$@"; }
# Goal lines, printed after the table: goal ROW GOAL RESULT MISSED OF
goal() {
    st=met
    if [ "$4" -gt 0 ]; then st=missed; [ "$4" -lt "$5" ] && st="missed $4 of $5"; fi
    echo "goal | $1 | $2 | $3 | $st" >>"$tmp/goals"
}
: >"$tmp/goals"

want b7 && echo "note | B7 | $b7runs runs each, interleaved, each timed from spawn to exit (\`ninefold-bench time CMD…\`); NINEFOLD_NS unset, so \`newns\` starts a new session."

# ---- B7 ------------------------------------------------------------------------------
if want b7; then
    variants="newns"
    install bwrap bubblewrap && variants="$variants bwrap" || say "B7: no bwrap: its column is skipped"
    variants="$variants unshare"
    say "B7: $b7runs runs each of: $variants"
    i=0
    while [ $i -lt "$b7runs" ]; do
        for v in $variants; do
            case $v in
            newns) t env -u NINEFOLD_NS "$ninefold" newns -- true ;;
            bwrap) t bwrap --bind / / true ;;
            unshare) t unshare -rm true ;;
            esac >>"$tmp/b7.$v"
        done
        i=$((i + 1))
    done
    bw=''
    [ -f "$tmp/b7.bwrap" ] && bw=$(stats "$tmp/b7.bwrap" | cut -d' ' -f1)
    us=$(stats "$tmp/b7.unshare" | cut -d' ' -f1)
    nn=$(stats "$tmp/b7.newns" | cut -d' ' -f1)
    b7rows=''
    for v in $variants; do
        set -- $(stats "$tmp/b7.$v")
        case $v in
        newns) what='`ninefold newns -- true`' ;;
        bwrap) what='`bwrap --bind / / true`' ;;
        unshare) what='`unshare -rm true`' ;;
        esac
        ratio='' goal=''
        if [ -n "$bw" ]; then
            ratio=$(awk -v a="$1" -v b="$bw" 'BEGIN {printf "%.2f× bwrap", a/b}')
            [ $v = bwrap ] && ratio="reference; $(awk -v a="$1" -v u="$us" 'BEGIN {printf "%.2f× unshare", a/u}')"
            [ $v = newns ] && goal=$(awk -v a="$1" -v b="$bw" 'BEGIN {print (a <= 2*b) ? "≤ 2× bwrap: met" : "≤ 2× bwrap: **missed**"}')
        fi
        [ $v = unshare ] && ratio="${ratio:+$ratio; }reference"
        [ $v = newns ] && ratio="${ratio:+$ratio; }$(awk -v a="$1" -v u="$us" 'BEGIN {printf "%.2f× unshare", a/u}')"
        b7rows="$b7rows$(awk -v w="$what" -v m="$1" -v lo="$2" -v hi="$3" -v r="$ratio" -v g="$goal" \
            'BEGIN {printf "| B7 | %s | %.2f ms | %.2f–%.2f | %s | %s |", w, m/1000, lo/1000, hi/1000, r, g}')
"
    done
    if [ -n "$bw" ]; then
        goal B7 "\`ninefold newns -- true\` ≤ 2× \`bwrap --bind / / true\`" \
            "$(awk -v a="$nn" -v b="$bw" -v u="$us" 'BEGIN {printf "%.2f× bwrap (%.2f against %.2f ms); %.2f× unshare -rm", a/b, a/1000, b/1000, a/u}')" \
            "$(awk -v a="$nn" -v b="$bw" 'BEGIN {print (a <= 2*b) ? 0 : 1}')" 1
    else
        echo "goal | B7 | \`ninefold newns -- true\` ≤ 2× \`bwrap --bind / / true\` | — | not measured: no bwrap" >>"$tmp/goals"
    fi
fi

# The table: B7's rows (measured first, before anything is mounted) and then B4's and B5's.
table() {
    echo "| row | what | median | min–max | ratio | goal |"
    echo "|---|---|---:|---:|---|---|"
    printf '%s' "${b7rows:-}"
    cat "$tmp/fsrows" 2>/dev/null || true
    echo
    cat "$tmp/goals"
}

if ! want b4 && ! want b5; then
    table
    exit 0
fi


# ---- the mounts for B4 and B5 ------------------------------------------------------------
export_dir="$tmp/export"
mkdir -p "$export_dir/many" "$tmp/sshfs"
if want b4; then
    say "creating a $size test file…"
    head -c "$size" /dev/urandom >"$export_dir/data"
    cat "$export_dir/data" >/dev/null
    bytes=$(stat -c %s "$export_dir/data")
fi
if want b5; then
    say "creating $nfiles files…"
    seq -f "$export_dir/many/f%05g" 1 "$nfiles" | xargs touch
fi

sock="$tmp/9p.sock"
"$ninefold" exportfs -r "$export_dir" --listen "unix!$sock" 2>"$tmp/exportfs.log" &
pids="$pids $!"
n=0
while [ ! -S "$sock" ]; do
    n=$((n + 1)); [ $n -lt 100 ] || { say "exportfs did not start"; cat "$tmp/exportfs.log" >&2; exit 1; }
    sleep 0.05
done
env -u NINEFOLD_NS "$ninefold" newns -- sh -c \
    "mkdir -p /n/x && '$ninefold' mount -c 'unix!$sock' /n/x && echo \$\$ >'$tmp/session.pid' && exec sleep 100000" \
    2>"$tmp/newns.log" &
pids="$pids $!"
n=0
while [ ! -s "$tmp/session.pid" ]; do
    n=$((n + 1)); [ $n -lt 100 ] || { say "the session did not start"; cat "$tmp/newns.log" >&2; exit 1; }
    sleep 0.05
done
session=$(cat "$tmp/session.pid")
# Run a command inside the session (its user and mount namespaces), where /n/x is mounted.
insess() { nsenter -t "$session" -U -m --preserve-credentials "$@"; }

# sshfs against a private sshd on loopback.
sshfs_ok=0 sshfs_why=''
if ! install sshd openssh-server && ! [ -x /usr/sbin/sshd ]; then
    sshfs_why='openssh-server could not be installed'
elif ! install sshfs sshfs; then
    sshfs_why='sshfs could not be installed'
else
    sshd=$(command -v sshd || echo /usr/sbin/sshd)
    k="$tmp/ssh"
    mkdir -p "$k" /run/sshd
    ssh-keygen -q -t ed25519 -N '' -f "$k/host"
    ssh-keygen -q -t ed25519 -N '' -f "$k/id"
    cp "$k/id.pub" "$k/authorized_keys"
    port=$((20000 + $$ % 20000))
    cat >"$k/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $k/host
AuthorizedKeysFile $k/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile $k/sshd.pid
Subsystem sftp /usr/lib/openssh/sftp-server
EOF
    "$sshd" -D -f "$k/sshd_config" -E "$k/sshd.log" &
    pids="$pids $!"
    sshopts="-p $port -o IdentityFile=$k/id -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o Compression=no -o LogLevel=ERROR"
    n=0
    # shellcheck disable=SC2086
    until ssh $sshopts root@127.0.0.1 true 2>/dev/null; do
        n=$((n + 1)); [ $n -lt 50 ] || break
        sleep 0.1
    done
    if [ $n -ge 50 ]; then
        sshfs_why="the private sshd did not answer ($(tail -n 1 "$k/sshd.log" 2>/dev/null))"
    else
        # The faster cipher here: 256 MiB through ssh, best of 3, each.
        best='' cipher='' race=''
        for c in aes128-gcm@openssh.com chacha20-poly1305@openssh.com; do
            i=0
            while [ $i -lt $tries ]; do
                # shellcheck disable=SC2086
                t ssh $sshopts -o Ciphers=$c root@127.0.0.1 "head -c $probe /dev/zero"
                i=$((i + 1))
            done >"$tmp/cipher.$c"
            m=$(sort -n "$tmp/cipher.$c" | head -n 1)
            say "ssh with $c: $((probe >> 20)) MiB in $((m / 1000)) ms"
            race="${race:+$race, }${c%@*} $((m / 1000)) ms"
            if [ -z "$best" ] || [ "$m" -lt "$best" ]; then best=$m cipher=$c; fi
        done
        # shellcheck disable=SC2086
        if sshfs -o "ssh_command=ssh $sshopts -o Ciphers=$cipher" root@127.0.0.1:"$export_dir" "$tmp/sshfs"; then
            sshfs_mounted=1 sshfs_ok=1
            say "sshfs mounted with $cipher"
        else
            sshfs_why='sshfs failed to mount'
        fi
    fi
fi
[ -n "$sshfs_why" ] && say "sshfs column skipped: $sshfs_why"
if [ "$sshfs_ok" = 1 ]; then
    sshfs_note="sshfs $(sshfs --version 2>&1 | sed -n 's/^SSHFS version //p' | head -n 1) against a private \`sshd -D\` on 127.0.0.1 (sftp-server), \`-o Compression=no\`, cipher ${cipher%@*}: the faster here of $race for $((probe >> 20)) MiB through \`ssh … head -c\` (best of $tries)."
else
    sshfs_note="sshfs not measured: $sshfs_why."
fi
echo "note | B4,B5 | The ninefold mount: \`ninefold exportfs -r DIR --listen unix!SOCK\`, and in a \`ninefold newns\` session \`ninefold mount -c unix!SOCK /n/x\` (FUSE); the measured commands enter the session with \`nsenter -U -m\`. $sshfs_note Medians of $fsruns runs, variants interleaved; min–max = slowest–fastest run; each time from spawn to exit."
want b4 && echo "note | B4 | A $size file of random bytes in the host's page cache; before each read through a FUSE mount its own cached pages of the file are dropped (\`dd iflag=nocache count=0\`). Writes: \`sync\` and removal after each, untimed."
want b5 && echo "note | B5 | $nfiles empty files. \`ls -l\` at least 1.2 s after the last look (past ninefold's 1 s entry/attribute timeout; sshfs keeps its own cache for its default 20 s), then readdir + lstat of each file by path (\`ninefold-bench stat-all\`)."
fsvariants="native ninefold"
[ "$sshfs_ok" = 1 ] && fsvariants="$fsvariants sshfs"
# The mounted export directory for each variant, and the command prefix that sees it.
dir_of() { case $1 in native) echo "$export_dir" ;; ninefold) echo /n/x ;; sshfs) echo "$tmp/sshfs" ;; esac; }
run_in() { if [ "$1" = ninefold ]; then shift; t nsenter -t "$session" -U -m --preserve-credentials "$@"; else shift; t "$@"; fi; }

mbs() { awk -v b="$bytes" -v us="$1" 'BEGIN {printf "%.1f", b / us}'; }
# row ID WHAT UNIT FILE NATIVEFILE SSHFSFILE HIGHER(1 if larger is better) GOALKIND
row() {
    id=$1 what=$2 f=$3 v=$4
    set -- $(stats "$f")
    med=$1 lo=$2 hi=$3
    nmed=$(stats "$tmp/$id.native" | cut -d' ' -f1)
    smed=''
    [ -f "$tmp/$id.sshfs" ] && smed=$(stats "$tmp/$id.sshfs" | cut -d' ' -f1)
    case $id in
    b4r | b4w)
        value="$(mbs "$med") MB/s"; range="$(mbs "$hi")–$(mbs "$lo")"
        ratio=$(awk -v a="$med" -v n="$nmed" 'BEGIN {printf "%.2f× native", n/a}')
        [ -n "$smed" ] && [ "$v" = ninefold ] && ratio="$ratio; $(awk -v a="$med" -v s="$smed" 'BEGIN {printf "%.2f× sshfs", s/a}')"
        goal=''
        if [ "$v" = ninefold ]; then
            goal=$(awk -v a="$med" -v n="$nmed" 'BEGIN {print (n/a >= 0.3) ? "≥ 0.3× native: met" : "≥ 0.3× native: **missed**"}')
            gmiss=$(awk -v a="$med" -v n="$nmed" 'BEGIN {print (n/a >= 0.3) ? 0 : 1}') gof=1
            gres="$(mbs "$med") MB/s = $(awk -v a="$med" -v n="$nmed" 'BEGIN {printf "%.2f× native", n/a}')"
            if [ -n "$smed" ]; then
                goal="$goal; $(awk -v a="$med" -v s="$smed" 'BEGIN {print (s/a >= 5) ? "≥ 5× sshfs: met" : "≥ 5× sshfs: **missed**"}')"
                gmiss=$((gmiss + $(awk -v a="$med" -v s="$smed" 'BEGIN {print (s/a >= 5) ? 0 : 1}'))) gof=2
                gres="$gres, $(awk -v a="$med" -v s="$smed" 'BEGIN {printf "%.2f× sshfs", s/a}')"
            else
                goal="$goal; ≥ 5× sshfs: not measured ($sshfs_why)"
                gres="$gres; sshfs not measured"
            fi
            case $id in b4r) op=read ;; *) op=write ;; esac
            goal B4 "$op ≥ 0.3× native and ≥ 5× sshfs" "$gres" "$gmiss" "$gof"
        fi ;;
    *)
        value=$(awk -v a="$med" 'BEGIN {printf "%.1f ms", a/1000}')
        range=$(awk -v a="$lo" -v b="$hi" 'BEGIN {printf "%.1f–%.1f", a/1000, b/1000}')
        ratio=$(awk -v a="$med" -v n="$nmed" 'BEGIN {printf "%.2f× native (time)", a/n}')
        [ -n "$smed" ] && [ "$v" = ninefold ] && ratio="$ratio; $(awk -v a="$med" -v s="$smed" 'BEGIN {printf "%.2f× as fast as sshfs", s/a}')"
        goal=''
        case $id in b5l) op="\`ls -l\`" ;; *) op="readdir + lstat" ;; esac
        if [ "$v" = ninefold ]; then
            if [ -n "$smed" ]; then
                goal=$(awk -v a="$med" -v s="$smed" 'BEGIN {print (s/a >= 2) ? "≥ 2× sshfs: met" : "≥ 2× sshfs: **missed**"}')
                goal B5 "$op of $nfiles files ≥ 2× as fast as sshfs" \
                    "$(awk -v a="$med" -v s="$smed" 'BEGIN {printf "%.2f× as fast (%.1f against %.1f ms)", s/a, a/1000, s/1000}')" \
                    "$(awk -v a="$med" -v s="$smed" 'BEGIN {print (s/a >= 2) ? 0 : 1}')" 1
            else
                goal="≥ 2× sshfs: not measured ($sshfs_why)"
                echo "goal | B5 | $op of $nfiles files ≥ 2× as fast as sshfs | $(awk -v a="$med" 'BEGIN {printf "%.1f ms", a/1000}') | not measured: $sshfs_why" >>"$tmp/goals"
            fi
        fi ;;
    esac
    [ "$v" = native ] && ratio=reference
    echo "| ${id%[rwls]} | $what | $value | $range | $ratio | $goal |" | sed 's/| b\([0-9]\) |/| B\1 |/' >>"$tmp/fsrows"
}
label() {
    case $1 in
    native) echo "native $2" ;;
    ninefold) echo "$2 in a \`ninefold newns\` session, /n/x = \`ninefold mount -c unix!SOCK /n/x\` ← \`ninefold exportfs -r DIR --listen unix!SOCK\` (FUSE)" ;;
    sshfs) echo "$2 on sshfs over loopback ssh ($cipher, Compression=no) ← private sshd, sftp-server" ;;
    esac
}

# ---- B4 ------------------------------------------------------------------------------
if want b4; then
    say "B4: $fsruns runs of $size read and write each: $fsvariants"
    i=0
    while [ $i -lt "$fsruns" ]; do
        for v in $fsvariants; do
            d=$(dir_of "$v")
            # Read: the exported file is in the host's page cache; a FUSE mount's own copy of
            # it is dropped first (fadvise DONTNEED) so that every byte crosses the protocol.
            if [ "$v" != native ]; then run_in "$v" dd if="$d/data" iflag=nocache count=0 status=none >/dev/null; fi
            run_in "$v" dd if="$d/data" of=/dev/null bs=1M status=none >>"$tmp/b4r.$v"
            # Write: a new file, from the page-cached data file (read natively); timed to exit.
            run_in "$v" dd if="$export_dir/data" of="$d/w" bs=1M status=none >>"$tmp/b4w.$v"
            got=$(stat -c %s "$export_dir/w")
            [ "$got" = "$bytes" ] || { say "B4: $v wrote $got bytes, not $bytes"; exit 1; }
            rm -f "$export_dir/w"
            sync
        done
        i=$((i + 1))
    done
    for v in $fsvariants; do row b4r "$(label "$v" "\`dd if=FILE of=/dev/null bs=1M\` ($size)")" "$tmp/b4r.$v" "$v"; done
    for v in $fsvariants; do row b4w "$(label "$v" "\`dd if=CACHED of=FILE bs=1M\` ($size, timed to exit)")" "$tmp/b4w.$v" "$v"; done
fi

# ---- B5 ------------------------------------------------------------------------------
if want b5; then
    say "B5: $fsruns runs of ls -l and stat of $nfiles files each: $fsvariants"
    i=0
    while [ $i -lt "$fsruns" ]; do
        for v in $fsvariants; do
            d=$(dir_of "$v")
            # Past ninefold's 1 s attribute/entry timeout (sshfs keeps its own cache 20 s).
            sleep 1.2
            run_in "$v" ls -l "$d/many" >>"$tmp/b5l.$v"
            if [ "$v" = ninefold ]; then insess "$bench" stat-all "$d/many"; else "$bench" stat-all "$d/many"; fi |
                cut -d' ' -f1 >>"$tmp/b5s.$v"
        done
        i=$((i + 1))
    done
    for v in $fsvariants; do row b5l "$(label "$v" "\`ls -l\` of $nfiles files (>1 s after the last look)")" "$tmp/b5l.$v" "$v"; done
    for v in $fsvariants; do row b5s "$(label "$v" "readdir + lstat of each of $nfiles files, right after that \`ls -l\`")" "$tmp/b5s.$v" "$v"; done
fi

table
