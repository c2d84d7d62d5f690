# The debian profile's shell half, run by image/src/debian.rs (docs/image.md explains each step):
#   debian.sh root TARBALL ROOT OSTLER SKEL KEY MODULES [MORE-PACKAGES]   (SOURCE_DATE_EPOCH set)
#   debian.sh times DISK ROOT   (SOURCE_DATE_EPOCH set)
#   debian.sh qcow2 DISK QCOW2
set -eu
need() { command -v "$1" > /dev/null || { echo "\`$1\` is not installed; install it with \`apt-get install $2\`" >&2; exit 1; }; }
case $1 in
times)
    # mke2fs -d copies each inode's times from ROOT, whose change times are the extraction's:
    # every inode gets the epoch as its access, change and creation time, and as its
    # modification time where that is later (what the build itself wrote). Same bytes then.
    e=$SOURCE_DATE_EPOCH commands=$2.debugfs
    cd "$3"
    find . -printf "sif \"/%P\" atime @$e\nsif \"/%P\" ctime @$e\nsif \"/%P\" crtime @$e\n" > "$commands"
    find . -newermt "@$e" -printf "sif \"/%P\" mtime @$e\n" >> "$commands"
    E2FSPROGS_FAKE_TIME=$e debugfs -w -f "$commands" "$2" 2>&1 > /dev/null | grep -v '^debugfs ' >&2 && exit 1
    rm -f "$commands"
    exit 0
    ;;
qcow2)
    need qemu-img qemu-utils
    exec qemu-img convert -f raw -O qcow2 "$2" "$3"
    ;;
esac
tarball=$2 root=$3 ostler=$4 skel=$5 key=$6 modules=$7
packages=openssh-server,nginx-light,cron,rsyslog,udev,kmod,e2fsprogs,mount,iproute2,ifupdown,udhcpc,busybox,procps,netbase,iputils-ping,less,ca-certificates${8:+,$8}
if [ ! -f "$tarball" ]; then
    need mmdebstrap mmdebstrap
    # The host's mirror (main, then security archive): on the command line only.
    sources=/etc/apt/sources.list.d/debian.sources
    mirror=$(awk '/^URIs:/ {print $2}' "$sources" | sed -n 1p)
    security=$(awk '/^URIs:/ {print $2}' "$sources" | sed -n 2p)
    [ -n "$mirror" ] || { echo "no URIs: line (the mirror) in $sources" >&2; exit 1; }
    set -- "deb $mirror bookworm main" "deb $mirror bookworm-updates main"
    [ -z "$security" ] || set -- "$@" "deb $security bookworm-security main"
    partial=$tarball.$$.partial log=$tarball.$$.log
    mkdir -p "${tarball%/*}"
    if ! mmdebstrap --mode=root --variant=minbase --format=tar --include="$packages" \
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
        --dpkgopt='path-include=/usr/share/locale/locale.alias' --dpkgopt='path-exclude=/usr/share/doc/*' \
        --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/info/*' \
        --dpkgopt='path-exclude=/usr/lib/dpkg/methods/apt/*' \
        --dpkgopt='path-exclude=/usr/lib/x86_64-linux-gnu/perl/debian-config-data-*/README' \
        --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
        --setup-hook='mkdir -p "$1/etc/apt/preferences.d" && printf "Package: systemd-sysv sysvinit-core usrmerge\nPin: release *\nPin-Priority: -1\n" > "$1/etc/apt/preferences.d/ostler-pins"' \
        --customize-hook='rm -f "$1"/etc/ssh/ssh_host_* "$1/etc/hostname" "$1/etc/resolv.conf" "$1/etc/apt/sources.list"' \
        --customize-hook='cd "$1/etc" && echo "log:x:999:999:ostler log companions:/nonexistent:/usr/sbin/nologin" >> passwd && echo log:x:999: >> group && echo "log:!*:::::::" >> shadow && echo "log:!::" >> gshadow' \
        bookworm "$partial" "$@" > "$log" 2>&1; then
        tail -n 30 "$log" | sed "s#$mirror#MIRROR#g; s#${security:-MIRROR}#MIRROR#g" >&2
        rm -f "$partial" "$log"
        echo "mmdebstrap failed: it runs as root (--mode=root); check the mirror in $sources" >&2
        exit 1
    fi
    rm -f "$log"
    mv "$partial" "$tarball"
fi
tar -C "$root" --numeric-owner --xattrs --xattrs-include='*' -xpf "$tarball"
install -m 755 "$ostler" "$root/usr/bin/ostler"
for name in init poweroff reboot halt shutdown policy-rc.d; do ln -sf /usr/bin/ostler "$root/usr/sbin/$name"; done
# Debian's `service` runs /etc/init.d scripts behind the supervisor's back: diverted (dpkg
# keeps it aside through upgrades of init-system-helpers), ostler's `service` in its place.
dpkg-divert --root="$root" --quiet --local --rename --divert /usr/sbin/service.debian --add /usr/sbin/service
ln -sf /usr/bin/ostler "$root/usr/sbin/service"
cp -R --no-preserve=ownership "$skel/." "$root/"
# Completions and man pages, written by the ostler just installed (static: it runs here). The
# shells' vendor directories are Debian's, read once bash-completion, zsh or fish is installed.
# Man pages gzip -9n as Debian's (no name or time in the header: the same bytes each build).
completions=$root/usr/share/bash-completion/completions
mkdir -p "$completions" "$root/usr/share/zsh/vendor-completions" "$root/usr/share/fish/vendor_completions.d" "$root/usr/share/man/man1"
for name in ostler service; do
    "$ostler" completions bash --command "$name" > "$completions/$name"
    "$ostler" completions zsh --command "$name" > "$root/usr/share/zsh/vendor-completions/_$name"
    "$ostler" completions fish --command "$name" > "$root/usr/share/fish/vendor_completions.d/$name.fish"
done
pages=$(mktemp -d)
"$ostler" man "$pages" > /dev/null
for page in "$pages"/*.1; do gzip -9n < "$page" > "$root/usr/share/man/man1/${page##*/}.gz"; done
rm -rf "$pages"
if [ -n "$key" ]; then
    install -d -m 700 "$root/root/.ssh"
    install -m 600 "$key" "$root/root/.ssh/authorized_keys"
fi
if [ -n "$modules" ]; then
    # The root's own modules (udev loads the NIC's and the RNG's), with what they need.
    version=${modules##*/} base=${modules%/lib/modules/*}
    for name in virtio_pci virtio_blk virtio_net virtio-rng virtio_console crc32c_generic crc32c-intel ext4 loop; do
        modprobe ${base:+-d "$base"} -S "$version" --show-depends "$name"
    done | sed -n 's#^insmod .*\(/lib/modules/[^ ]*\).*#\1#p' | sort -u | while read -r file; do
        install -D -m 644 "$base$file" "$root$file"
    done
    for file in modules.order modules.builtin modules.builtin.modinfo; do cp "$modules/$file" "$root/lib/modules/$version/"; done
    depmod -b "$root" "$version"
fi
