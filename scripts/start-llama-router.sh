#!/usr/bin/env bash
# start-llama-router.sh — start a real llama-server in router mode on 127.0.0.1.
#
# Usage:
#   scripts/start-llama-router.sh [--models-max N] [--names "planner critic executor"]
#       [--ctx 2048] [--threads 1] [--parallel 1] [--state-dir DIR] [--port N]
#       [--timeout 60] [--llama-server PATH] [--model PATH] [--chat-template-file PATH]
#       [--embedding NAME=GGUF]...
#
# What it does:
#   1. Gets the llama-server binary and the Gemma 3 270M GGUF from
#      setup-llama-server.sh / setup-model.sh (cache hits take ~1 s; the first
#      llama-server build takes several minutes) unless --llama-server/--model are given.
#   2. Creates STATE/models/ with one symlink NAME.gguf -> the GGUF per name.
#      llama-server derives a model id from each top-level *.gguf entry in the
#      models dir by dropping ".gguf" (NAME.gguf -> id "NAME"), so every name is a
#      separate model id backed by the same file. Names must match
#      [A-Za-z0-9][A-Za-z0-9._-]*, must not contain "mmproj" (treated as a
#      projector and skipped) nor start with mtp-/dspark-/dflash- (draft sidecars).
#   2b. --embedding NAME=GGUF (repeatable) adds an embedding model beside the chat
#      names: a section [NAME] in STATE/models.ini with `model = GGUF`,
#      `embeddings = true`, `pooling = mean`, passed as --models-preset. The
#      router (llama-server b11434) gives each model its own flags this way:
#      tools/server/README.md "Model presets" (a section whose name is not a
#      known model needs `model =`; keys are the long flags without dashes) and
#      server-models.cpp load_models(), which merges presets from --models-dir
#      and --models-preset into one list of model ids. Only the embedding model
#      gets --embeddings (a chat model served with it answers no chat), and
#      without --embedding no preset file is passed, so the chat names behave as
#      before. Its child inherits the router's flags (ctx, threads, template,
#      which a BERT model ignores).
#   3. Picks a free port on 127.0.0.1 (unless --port), starts
#        llama-server --host 127.0.0.1 --port P --models-dir STATE/models
#          --models-max N --jinja --chat-template-file scripts/templates/gemma.jinja
#          --ctx-size C --threads T --threads-batch T --parallel S --no-ui
#      in the background (own session via setsid), with LLAMA_CACHE pointed at an
#      empty STATE/hf-cache so no Hugging Face cache models show up in /models,
#      and OMP_WAIT_POLICY=passive unless already set.
#      Threads default to 1: on the 2-core machine, with another CPU-heavy process
#      running, --threads 2 fell to 0.5-4 generated tokens/s (busy-waiting threads)
#      while --threads 1 kept ~75 tokens/s. Use --threads 2 on an idle machine.
#      Each model is loaded on demand (or via POST /models/load) into a child
#      llama-server process that inherits these flags. --models-max N: at most N
#      models loaded at once, the least recently used one is unloaded to make
#      room (1 = every switch of name is a real unload+load; 0 = no limit).
#   4. Waits (bounded by --timeout seconds) until GET /health answers 200 and
#      GET /models lists every name; on failure prints the log tail and stops
#      the server.
#
# Files in the state dir (default ${BATON_LLAMA_STATE_DIR:-${TMPDIR:-/tmp}/baton-llama-router-$(id -u)}):
#   url               base URL, e.g. http://127.0.0.1:41234 (one line)
#   pid               router PID (also its process-group id) (one line)
#   port              the port (one line)
#   config            the settings it was started with (compared on re-run)
#   llama-server.log  router + child model servers' log
#   models/           NAME.gguf symlinks;  hf-cache/  empty LLAMA_CACHE
#   models.ini        the embedding models' presets (only with --embedding)
#
# Idempotent: if a router started with the same settings is already running
# from this state dir, it just prints its URL again.
#
# Output:
#   stdout: one line  BATON_LLAMA_URL=http://127.0.0.1:PORT   (eval-able)
#   stderr: progress, and one final line with pid, state dir and log path.
#
# Stop it with scripts/stop-llama-router.sh [--state-dir DIR].
#
# Exit codes:
#   0  router running and healthy (URL printed)
#   1  router failed to start or become healthy in time (log tail on stderr)
#   2  usage error
#   3  prerequisites missing (setup script failed, binary/model/template not found)
#   4  a router with different settings is already running from this state dir
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
log() { echo "start-llama-router: $*" >&2; }
die() { local code="$1"; shift; echo "start-llama-router: error: $*" >&2; exit "$code"; }
usage() { awk 'NR>1 && /^#/ {sub(/^# ?/, ""); print; next} NR>1 {exit}' "$0"; }

MODELS_MAX=1
NAMES="planner critic executor"
CTX=2048
THREADS=1
PARALLEL=1
STATE="${BATON_LLAMA_STATE_DIR:-${TMPDIR:-/tmp}/baton-llama-router-$(id -u)}"
PORT=""
TIMEOUT=60
BIN=""
MODEL=""
TEMPLATE="$SCRIPT_DIR/templates/gemma.jinja"
EMBEDDINGS=()

is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }
is_pos() { [[ "$1" =~ ^[0-9]+$ ]] && (( 10#$1 > 0 )); }
while [[ $# -gt 0 ]]; do
  opt="$1"
  case "$opt" in
    -h|--help) usage; exit 0 ;;
    --embedding)
      [[ $# -ge 2 ]] || die 2 "--embedding needs a value NAME=GGUF"
      [[ "$2" == ?*=?* ]] || die 2 "--embedding takes NAME=GGUF, got '$2'"
      EMBEDDINGS+=("$2"); shift 2 ;;
    --models-max|--names|--ctx|--threads|--parallel|--state-dir|--port|--timeout|--llama-server|--model|--chat-template-file)
      [[ $# -ge 2 ]] || die 2 "$opt needs a value"
      val="$2"; shift 2
      case "$opt" in
        --models-max) is_uint "$val" || die 2 "--models-max must be a non-negative integer"; MODELS_MAX="$val" ;;
        --names) NAMES="$val" ;;
        --ctx) is_pos "$val" || die 2 "--ctx must be a positive integer"; CTX="$val" ;;
        --threads) is_pos "$val" || die 2 "--threads must be a positive integer"; THREADS="$val" ;;
        --parallel) is_pos "$val" || die 2 "--parallel must be a positive integer"; PARALLEL="$val" ;;
        --state-dir) STATE="$val" ;;
        --port) { is_pos "$val" && (( 10#$val < 65536 )); } || die 2 "--port must be 1-65535"; PORT="$val" ;;
        --timeout) is_pos "$val" || die 2 "--timeout must be a positive integer"; TIMEOUT="$val" ;;
        --llama-server) BIN="$val" ;;
        --model) MODEL="$val" ;;
        --chat-template-file) TEMPLATE="$val" ;;
      esac ;;
    *) die 2 "unknown argument: $opt (try --help)" ;;
  esac
done

# ---------------------------------------------------------------- validate names
read -r -a NAME_LIST <<<"$NAMES"
[[ ${#NAME_LIST[@]} -gt 0 ]] || die 2 "--names is empty"
declare -A seen=()
for n in "${NAME_LIST[@]}"; do
  [[ "$n" =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || die 2 "invalid model name '$n' (allowed: [A-Za-z0-9][A-Za-z0-9._-]*)"
  [[ "$n" != *mmproj* ]] || die 2 "model name '$n' contains 'mmproj'; llama-server would treat it as a projector file"
  [[ "$n" != *.gguf* ]] || die 2 "model name '$n' contains '.gguf'; llama-server strips it from ids"
  case "$n" in mtp-*|dspark-*|dflash-*) die 2 "model name '$n' starts with a draft-model prefix (mtp-/dspark-/dflash-)";; esac
  [[ -z "${seen[$n]:-}" ]] || die 2 "duplicate model name '$n'"
  seen[$n]=1
done

EMBED_NAMES=()
for e in "${EMBEDDINGS[@]}"; do
  n="${e%%=*}"
  [[ "$n" =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || die 2 "invalid embedding model name '$n' (allowed: [A-Za-z0-9][A-Za-z0-9._-]*)"
  [[ "$n" != *.gguf* ]] || die 2 "embedding model name '$n' contains '.gguf'; llama-server strips it from ids"
  [[ -z "${seen[$n]:-}" ]] || die 2 "duplicate model name '$n' (each name is one model id, chat or embedding)"
  seen[$n]=1
  EMBED_NAMES+=("$n")
done

# ---------------------------------------------------------------- helpers
HAVE_CURL=0; command -v curl >/dev/null 2>&1 && HAVE_CURL=1
# http_get PORT PATH -> body on stdout; returns 0 only for HTTP 200
http_get() {
  local port="$1" path="$2"
  if [[ $HAVE_CURL -eq 1 ]]; then
    curl -fsS --max-time 3 "http://127.0.0.1:$port$path" 2>/dev/null
  else
    local line resp
    exec 3<>"/dev/tcp/127.0.0.1/$port" 2>/dev/null || return 1
    printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$path" >&3
    IFS= read -r -t 3 line <&3 || { exec 3<&-; return 1; }
    resp=$(timeout 3 cat <&3 || true); exec 3<&-
    [[ "$line" == *" 200"* ]] || return 1
    printf '%s\n' "${resp#*$'\r\n\r\n'}"
  fi
}
is_our_server() {  # PID is alive and is a llama-server
  local pid="$1"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'llama-server'
}
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_port() {
  local p
  if command -v python3 >/dev/null 2>&1 &&
     p=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()' 2>/dev/null); then
    echo "$p"; return
  fi
  for _ in $(seq 1 50); do
    p=$(( 20000 + RANDOM % 40000 ))
    port_in_use "$p" || { echo "$p"; return; }
  done
  return 1
}

# ---------------------------------------------------------------- state dir / already running?
mkdir -p "$STATE"
STATE=$(cd "$STATE" && pwd)
LOG="$STATE/llama-server.log"
CONFIG="names=${NAME_LIST[*]} models_max=$MODELS_MAX ctx=$CTX threads=$THREADS parallel=$PARALLEL model=${MODEL:-default} template=$TEMPLATE bin=${BIN:-default}"
[[ ${#EMBEDDINGS[@]} -eq 0 ]] || CONFIG="$CONFIG embeddings=${EMBEDDINGS[*]}"

if [[ -f "$STATE/pid" ]]; then
  old_pid=$(cat "$STATE/pid" 2>/dev/null || true)
  if is_our_server "$old_pid"; then
    old_url=$(cat "$STATE/url" 2>/dev/null || true)
    if [[ "$(cat "$STATE/config" 2>/dev/null || true)" == "$CONFIG" && -n "$old_url" ]] &&
       http_get "${old_url##*:}" /health >/dev/null; then
      log "already running at $old_url (pid $old_pid, state dir $STATE, log $LOG)"
      echo "BATON_LLAMA_URL=$old_url"
      exit 0
    fi
    die 4 "a llama-server router (pid $old_pid, ${old_url:-unknown url}) with other settings is running from $STATE; stop it with scripts/stop-llama-router.sh --state-dir $STATE"
  fi
  rm -f "$STATE/pid" "$STATE/url" "$STATE/port"
fi

# ---------------------------------------------------------------- binary, model, template
if [[ -z "$BIN" ]]; then
  BIN=$("$SCRIPT_DIR/setup-llama-server.sh") || die 3 "setup-llama-server.sh failed"
fi
[[ -x "$BIN" ]] || die 3 "llama-server binary not found or not executable: $BIN"
if [[ -z "$MODEL" ]]; then
  MODEL=$("$SCRIPT_DIR/setup-model.sh") || die 3 "setup-model.sh failed"
fi
[[ -f "$MODEL" ]] || die 3 "model file not found: $MODEL"
[[ -f "$TEMPLATE" ]] || die 3 "chat template file not found: $TEMPLATE"
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
MODEL=$(cd "$(dirname "$MODEL")" && pwd)/$(basename "$MODEL")
TEMPLATE=$(cd "$(dirname "$TEMPLATE")" && pwd)/$(basename "$TEMPLATE")

# ---------------------------------------------------------------- models dir
rm -rf "$STATE/models" "$STATE/hf-cache"
mkdir -p "$STATE/models" "$STATE/hf-cache"
for n in "${NAME_LIST[@]}"; do ln -s "$MODEL" "$STATE/models/$n.gguf"; done
rm -f "$STATE/models.ini"
PRESET_ARGS=()
if [[ ${#EMBEDDINGS[@]} -gt 0 ]]; then
  { echo "version = 1"
    for e in "${EMBEDDINGS[@]}"; do
      n="${e%%=*}"; f="${e#*=}"
      [[ -f "$f" ]] || die 3 "embedding model file not found: $f (for --embedding $n)"
      f=$(cd "$(dirname "$f")" && pwd)/$(basename "$f")
      printf '\n[%s]\nmodel = %s\nembeddings = true\npooling = mean\n' "$n" "$f"
    done
  } >"$STATE/models.ini"
  PRESET_ARGS=(--models-preset "$STATE/models.ini")
fi

# ---------------------------------------------------------------- start
SETSID=(); command -v setsid >/dev/null 2>&1 && SETSID=(setsid)
close_inherited_fds() {  # a daemon must not keep its launcher's pipes open (a caller waiting for EOF would hang)
  local fd
  for fd in /proc/$BASHPID/fd/*; do
    fd="${fd##*/}"
    if (( fd > 2 )); then eval "exec ${fd}>&-" 2>/dev/null || true; fi
  done
}
start_server() {  # $1 = port; sets SERVER_PID
  : >"$LOG"
  ( close_inherited_fds
    LLAMA_CACHE="$STATE/hf-cache" OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}" \
    exec "${SETSID[@]}" "$BIN" \
    --host 127.0.0.1 --port "$1" \
    --models-dir "$STATE/models" ${PRESET_ARGS[@]+"${PRESET_ARGS[@]}"} --models-max "$MODELS_MAX" \
    --jinja --chat-template-file "$TEMPLATE" \
    --ctx-size "$CTX" --threads "$THREADS" --threads-batch "$THREADS" \
    --parallel "$PARALLEL" --no-ui \
    </dev/null >>"$LOG" 2>&1 ) &
  SERVER_PID=$!
}
fail_with_log() {
  echo "start-llama-router: error: $1" >&2
  echo "---- last 30 lines of $LOG ----" >&2
  tail -n 30 "$LOG" >&2 || true
  exit 1
}

attempts=1; [[ -z "$PORT" ]] && attempts=5
for attempt in $(seq 1 "$attempts"); do
  if [[ -n "$PORT" ]]; then
    port="$PORT"
    port_in_use "$port" && die 1 "port $port on 127.0.0.1 is already in use"
  else
    port=$(pick_port) || die 1 "could not find a free port"
  fi
  log "starting llama-server router on 127.0.0.1:$port (names: ${NAME_LIST[*]}; models-max $MODELS_MAX; ctx $CTX; threads $THREADS)"
  start_server "$port"
  deadline=$(( $(date +%s) + TIMEOUT ))
  healthy=0
  while [[ $(date +%s) -lt $deadline ]]; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
    # (re-check the PID: a 200 could come from another process on that port)
    if http_get "$port" /health >/dev/null && sleep 0.3 && kill -0 "$SERVER_PID" 2>/dev/null; then
      healthy=1; break
    fi
    sleep 0.2
  done
  if [[ $healthy -eq 1 ]]; then break; fi
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true; sleep 1; kill -KILL "$SERVER_PID" 2>/dev/null || true
    fail_with_log "llama-server did not answer GET /health within ${TIMEOUT}s"
  fi
  wait "$SERVER_PID" 2>/dev/null || true
  if [[ $attempt -lt $attempts ]] && grep -qiE 'bind|address already in use' "$LOG"; then
    log "port $port was taken, retrying"
    continue
  fi
  fail_with_log "llama-server exited during startup"
done

URL="http://127.0.0.1:$port"
# All names must be listed as model ids.
models_json=""
for _ in $(seq 1 25); do
  models_json=$(http_get "$port" /models || true)
  missing=()
  for n in "${NAME_LIST[@]}" ${EMBED_NAMES[@]+"${EMBED_NAMES[@]}"}; do [[ "$models_json" == *"\"id\":\"$n\""* ]] || missing+=("$n"); done
  [[ ${#missing[@]} -eq 0 ]] && break
  kill -0 "$SERVER_PID" 2>/dev/null || fail_with_log "llama-server exited during startup"
  sleep 0.2
done
if [[ ${#missing[@]} -gt 0 ]]; then
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  fail_with_log "GET /models does not list: ${missing[*]}"
fi

echo "$URL" >"$STATE/url"
echo "$SERVER_PID" >"$STATE/pid"
echo "$port" >"$STATE/port"
echo "$CONFIG" >"$STATE/config"
log "ready at $URL (pid $SERVER_PID, state dir $STATE, log $LOG)"
echo "BATON_LLAMA_URL=$URL"
