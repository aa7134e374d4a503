#!/usr/bin/env bash
# Installs baton: a release build, the binary, the shipped profiles and pipelines, shell completions and a man page.
#
#   scripts/install.sh [--prefix DIR] [--binary PATH] [--uninstall] [--help]
#
#   --prefix DIR    where to install (default: /usr/local as root, else ~/.local). The files go to
#                   DIR/bin/baton, DIR/share/baton/{profiles,pipelines}, DIR/share/man/man1/baton.1,
#                   DIR/share/bash-completion/completions/baton, DIR/share/zsh/site-functions/_baton and
#                   DIR/share/fish/vendor_completions.d/baton.fish.
#   --binary PATH   install this already-built baton instead of building one (also $BATON_INSTALL_BINARY);
#                   the test suite uses it to install its debug build without a release build.
#   --uninstall     remove exactly what the last install into DIR recorded in
#                   DIR/share/baton/install-manifest.txt (files, then the folders it created if empty).
#
# baton finds the shipped files relative to itself (<bin>/../share/baton), after the user's own folders
# (./pipelines, ~/.config/baton/pipelines, and the same for profiles).
#
# The man page comes from swift-argument-parser's manual generator: after a build, its `generate-manual`
# package plugin (offline: it is in the checked-out dependency); with --binary, the generator tool named by
# $BATON_GENERATE_MANUAL or one an earlier plugin run left under .build (generate-manual-tool); else a page made
# from `baton help` (said on stderr).
#
# Installing again over an earlier install first removes what that install recorded.
#
# Exit codes: 0 done; 64 bad command line; 66 --uninstall with no manifest in DIR, or --binary names no
# executable; 69 swift is not installed (needed to build); 70 the build failed; 73 a file could not be written.
# Works with the bash and BSD tools of macOS and the GNU tools of Linux.

set -euo pipefail

usage() { sed -n '2,/^$/p' "$0" | sed -e 's/^# \{0,1\}//'; }
fail() { local code="$1"; shift; echo "install.sh: $*" >&2; exit "$code"; }

prefix=""
binary="${BATON_INSTALL_BINARY:-}"
uninstall=0
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) [ $# -ge 2 ] || fail 64 "--prefix needs a folder"; prefix="$2"; shift 2 ;;
        --prefix=*) prefix="${1#--prefix=}"; shift ;;
        --binary) [ $# -ge 2 ] || fail 64 "--binary needs a path"; binary="$2"; shift 2 ;;
        --binary=*) binary="${1#--binary=}"; shift ;;
        --uninstall) uninstall=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) fail 64 "unknown argument '$1'; see --help" ;;
    esac
done
if [ -z "$prefix" ]; then
    if [ "$(id -u)" -eq 0 ]; then prefix=/usr/local; else prefix="$HOME/.local"; fi
fi
case "$prefix" in /*) ;; *) prefix="$PWD/$prefix" ;; esac
repo="$(cd "$(dirname "$0")/.." && pwd -P)"
manifest="$prefix/share/baton/install-manifest.txt"

# Removes what `manifest` lists: files ("f PATH") first, then created folders ("d PATH"), deepest first, if empty.
remove_recorded() {
    local line kind path
    local folders=()
    while IFS= read -r line; do
        kind="${line%% *}"
        path="${line#* }"
        case "$kind" in
            f) rm -f "$path" ;;
            d) folders+=("$path") ;;
        esac
    done <"$manifest"
    rm -f "$manifest"
    local i
    for ((i = ${#folders[@]} - 1; i >= 0; i--)); do
        rmdir "${folders[$i]}" 2>/dev/null || true
    done
}

if [ "$uninstall" -eq 1 ]; then
    [ -d "$prefix" ] && prefix="$(cd "$prefix" && pwd -P)" && manifest="$prefix/share/baton/install-manifest.txt"
    [ -f "$manifest" ] || fail 66 "nothing to uninstall: no $manifest (was baton installed with --prefix $prefix?)"
    remove_recorded
    echo "removed baton from $prefix"
    exit 0
fi

# The binary: given, or a release build.
built=0
if [ -n "$binary" ]; then
    [ -x "$binary" ] && [ -f "$binary" ] || fail 66 "--binary '$binary' is not an executable file"
else
    command -v swift >/dev/null 2>&1 ||
        fail 69 "swift is not installed; install Swift 6.1 or newer (https://swift.org/install), or pass --binary"
    echo "building baton (swift build -c release)..." >&2
    (cd "$repo" && swift build -c release >&2) || fail 70 "the release build failed (see above)"
    binary="$(cd "$repo" && swift build -c release --show-bin-path)/baton"
    built=1
fi

# The prefix's folders that do not exist yet are created here and recorded, so --uninstall removes them too.
created=()
folder="$prefix"
while [ ! -d "$folder" ]; do
    created=("$folder" ${created[@]+"${created[@]}"})
    folder="$(dirname "$folder")"
done
mkdir -p "$prefix" 2>/dev/null || fail 73 "cannot create $prefix"
prefix="$(cd "$prefix" && pwd -P)"
manifest="$prefix/share/baton/install-manifest.txt"
if [ -f "$manifest" ]; then remove_recorded; fi

# Everything written is recorded as it is written, so a failed install can still be uninstalled.
staging="$(mktemp -d "${TMPDIR:-/tmp}/baton-install.XXXXXX")"
recorded="$staging/manifest"
: >"$recorded"
for folder in ${created[@]+"${created[@]}"}; do echo "d $folder" >>"$recorded"; done

# Creates folder $1 and each missing parent, recording the ones it creates (parents first).
make_folder() {
    local folder="$1"
    [ -d "$folder" ] && return 0
    make_folder "$(dirname "$folder")"
    mkdir "$folder" 2>/dev/null || fail 73 "cannot create $folder"
    echo "d $folder" >>"$recorded"
}

# Copies $1 to $2 with mode $3.
put() {
    make_folder "$(dirname "$2")"
    cp "$1" "$2" 2>/dev/null || fail 73 "cannot write $2"
    chmod "$3" "$2"
    echo "f $2" >>"$recorded"
}

finish() {
    make_folder "$(dirname "$manifest")"
    cp "$recorded" "$manifest" || fail 73 "cannot write $manifest"
}
trap 'finish_status=$?; [ -s "$recorded" ] && [ ! -f "$manifest" ] && finish; rm -rf "$staging"; exit $finish_status' EXIT

put "$binary" "$prefix/bin/baton" 755
installed="$prefix/bin/baton"

# The shipped profiles and pipelines, as they are in the clone (with any prompt files beside the pipelines).
for folder in profiles pipelines; do
    (cd "$repo/$folder" && find . -type f \( -name '*.yaml' -o -name '*.yml' -o -name '*.md' -o -name '*.txt' \)) | sort |
        while IFS= read -r file; do
            put "$repo/$folder/${file#./}" "$prefix/share/baton/$folder/${file#./}" 644
        done
done

# Shell completions, from ArgumentParser.
"$installed" --generate-completion-script bash >"$staging/baton.bash"
"$installed" --generate-completion-script zsh >"$staging/_baton"
"$installed" --generate-completion-script fish >"$staging/baton.fish"
put "$staging/baton.bash" "$prefix/share/bash-completion/completions/baton" 644
put "$staging/_baton" "$prefix/share/zsh/site-functions/_baton" 644
put "$staging/baton.fish" "$prefix/share/fish/vendor_completions.d/baton.fish" 644

# The man page.
mkdir -p "$staging/man"
page=""
generator="${BATON_GENERATE_MANUAL:-}"
if [ -z "$generator" ] && [ -d "$repo/.build" ]; then
    # The plugin builds its tool as generate-manual-tool (swift-argument-parser 1.8.2).
    generator="$(find "$repo/.build" -type f \( -name generate-manual-tool -o -name generate-manual \) -perm -u+x 2>/dev/null |
        head -n 1 || true)"
fi
if [ -z "$generator" ] && [ "$built" -eq 1 ]; then
    # After our own build: the plugin builds its generate-manual tool and runs it on the release baton.
    if (cd "$repo" && swift package plugin generate-manual >&2); then
        page="$(find "$repo/.build/plugins" -type f -name baton.1 2>/dev/null | head -n 1 || true)"
    fi
fi
if [ -z "$page" ] && [ -n "$generator" ] && "$generator" "$installed" --output-directory "$staging/man" >&2; then
    page="$staging/man/baton.1"
fi
if [ -z "$page" ] || [ ! -s "$page" ]; then
    echo "install.sh: no ArgumentParser manual generator here; writing the man page from 'baton help'" >&2
    page="$staging/man/baton.1"
    escape() { sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"; }
    {
        echo ".TH BATON 1 \"\" \"baton $("$installed" --version)\" \"User Commands\""
        echo ".SH NAME"
        echo "baton \\- run multi-model LLM pipelines on local hardware"
        echo ".SH DESCRIPTION"
        echo ".nf"
        "$installed" --help | escape
        echo ".fi"
        echo ".SH COMMANDS"
        "$installed" --help | sed -n '/^SUBCOMMANDS:/,/^$/p' | sed -n 's/^  \([a-z][a-z-]*\).*/\1/p' | while IFS= read -r command; do
            echo ".SS $command"
            echo ".nf"
            "$installed" help "$command" | escape
            echo ".fi"
        done
    } >"$page"
fi
put "$page" "$prefix/share/man/man1/baton.1" 644

finish
echo "installed baton $("$installed" --version) in $prefix"
case ":$PATH:" in
    *":$prefix/bin:"*) ;;
    *) echo "note: $prefix/bin is not on PATH; add it (e.g. export PATH=\"$prefix/bin:\$PATH\")" >&2 ;;
esac
