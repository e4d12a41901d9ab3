#!/usr/bin/env bash
# Packs wavemix for a Linux x86-64 host that has none of this project's system libraries (a cluster
# node without the apt packages, the lent 16-core machine): the release binary built with a static
# Swift runtime, every shared library it and Open MPI load except glibc's own, and Open MPI's
# runtime (mpirun, its plugins, help texts and settings) at the paths it was built for.
#
#   scripts/make_bundle.sh OUTDIR        (builds into .build-static first; OUTDIR must not exist)
#
# It writes OUTDIR and the same folder packed as OUTDIR.tar.gz.
#
# On the target host, as root:  OUTDIR/install.sh
# It copies to /usr/local/lib/wavemix only the libraries that host lacks (its own newer ones win),
# unpacks Open MPI unless the host already has an mpirun, and leaves bin/wavemix and
# bin/wavemix-mpirun ready to run. The target needs glibc >= 2.34 (what the binary links against).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/make_bundle.sh OUTDIR}
[[ -e $out ]] && { echo "make_bundle: $out already exists; give a new folder" >&2; exit 2; }

swift build -c release --static-swift-stdlib --build-path .build-static --product wavemix
binary=.build-static/release/wavemix
mkdir -p "$out/bin" "$out/lib"
cp "$binary" "$out/bin/wavemix"
strip "$out/bin/wavemix"  # symbols only; 78 -> ~50 MB
cp scripts/wavemix-mpirun "$out/bin/"

# Open MPI's own files (Debian 12 packages), kept at their absolute paths: its plugins and help
# texts are found through paths compiled into it.
ompi_packages=(openmpi-bin libopenmpi3 openmpi-common libpmix2)
dpkg -L "${ompi_packages[@]}" | while read -r f; do
    [[ -f $f || -L $f ]] && [[ ! -d $f ]] && [[ $f != /usr/share/doc/* && $f != /usr/share/man/* ]] && echo "${f#/}"
done | sort -u >"$out/openmpi.files"
tar -C / -cf "$out/openmpi.tar" --no-recursion -T "$out/openmpi.files"
rm "$out/openmpi.files"

# The shared libraries that the binary, Open MPI's programs and every Open MPI / PMIx plugin need,
# minus glibc (the target's own must be used) and minus Open MPI's libraries (in openmpi.tar).
mapfile -t objects < <(echo "$binary"; ls /usr/bin/orterun /usr/bin/orted;
                       find /usr/lib/x86_64-linux-gnu/openmpi /usr/lib/x86_64-linux-gnu/pmix2 -name '*.so*' -type f)
ldd "${objects[@]}" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | sort -u |
while read -r name path; do
    case $name in
        libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|libutil.so.*|ld-linux*|libresolv.so.*) continue ;;
        libmpi*|libopen-rte*|libopen-pal*|libmca_common*|libpmix.so*|liboshmem*|libompitrace*) continue ;;
    esac
    [[ -e $out/lib/$name ]] || cp -L "$path" "$out/lib/$name"
done

cat >"$out/install.sh" <<'EOF'
#!/usr/bin/env bash
# Installs what this host lacks for bin/wavemix (see scripts/make_bundle.sh in wavemix-swift).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p /usr/local/lib/wavemix
for lib in "$here"/lib/*; do
    name=$(basename "$lib")
    ldconfig -p | grep -q " $name " || cp "$lib" /usr/local/lib/wavemix/
done
if ! command -v mpirun >/dev/null; then
    tar -C / -xf "$here/openmpi.tar"
    ln -sf orterun /usr/bin/mpirun
fi
echo /usr/local/lib/wavemix >/etc/ld.so.conf.d/wavemix.conf
ldconfig
missing=$(ldd "$here/bin/wavemix" | grep 'not found' || true)
[[ -z $missing ]] || { echo "install.sh: still missing: $missing" >&2; exit 1; }
echo "install.sh: wavemix ready ($(ls /usr/local/lib/wavemix | wc -l) libraries added; mpirun: $(command -v mpirun))"
EOF
chmod +x "$out/install.sh"
tar -C "$(dirname "$out")" -czf "$out.tar.gz" "$(basename "$out")"  # gzip: every host can unpack it
echo "make_bundle: $out ($(du -sh "$out" | cut -f1)), packed as $out.tar.gz ($(du -sh "$out.tar.gz" | cut -f1))"
