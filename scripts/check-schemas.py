#!/usr/bin/env python3
"""Check the JSON Schemas in schemas/ and the shipped pipelines/ and profiles/ against them.

The Swift validator (`baton validate`) is the source of truth for the file format; the schemas are for
editors. This script keeps the schemas honest:

- each schema is a valid JSON Schema (draft 2020-12), every object in it has `additionalProperties`,
  and every property has a non-empty `description` (editors show it in completion);
- every pipelines/*.yaml validates against schemas/pipeline.schema.json, every pipelines/*.test.yaml
  against schemas/test.schema.json and every profiles/*.yaml against schemas/profile.schema.json, each
  starting with its yaml-language-server modeline, and the JSON Schema of every
  `output: {format: json, schema: ...}` (and of every `is-json: {schema: ...}`) is itself a valid schema;
- a set of deliberately invalid documents is rejected (and a few valid edge cases accepted), so the
  check cannot pass vacuously.

Prints one line per check and a final line `N passed, M failed`; exits 1 on any failure.

`--dump-properties` prints, as JSON, the sorted property names of each object definition, for the
Swift test that compares them with the Swift coding keys.

Needs: jsonschema (4.18 or newer) and PyYAML.
"""

import argparse
import json
import sys
from pathlib import Path

import re

import yaml
from jsonschema import Draft202012Validator


class Yaml12Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2's booleans, as Baton (Yams) reads files: only true and false are
    booleans, so a route's `on:` key stays the string "on" (YAML 1.1 reads on/off/yes/no as booleans)."""


Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "schemas"
PIPELINE_SCHEMA = SCHEMAS / "pipeline.schema.json"
PROFILE_SCHEMA = SCHEMAS / "profile.schema.json"
TEST_SCHEMA = SCHEMAS / "test.schema.json"

# --dump-properties key -> (schema file, JSON pointer of the object definition).
OBJECT_DEFINITIONS = {
    "pipeline": (PIPELINE_SCHEMA, ""),
    "stage": (PIPELINE_SCHEMA, "/$defs/stage"),
    "defaults": (PIPELINE_SCHEMA, "/$defs/defaults"),
    "input": (PIPELINE_SCHEMA, "/$defs/input"),
    "retry": (PIPELINE_SCHEMA, "/$defs/retry"),
    "output": (PIPELINE_SCHEMA, "/$defs/output_spec"),
    "profile": (PROFILE_SCHEMA, ""),
    "runtime": (PROFILE_SCHEMA, "/$defs/runtime"),
    "model": (PROFILE_SCHEMA, "/$defs/model"),
    "role": (PROFILE_SCHEMA, "/$defs/role"),
    "profile_defaults": (PROFILE_SCHEMA, "/$defs/defaults"),
    "thermal": (PROFILE_SCHEMA, "/$defs/thermal"),
    "runtime_host": (PROFILE_SCHEMA, "/$defs/runtime_host"),
    "test": (TEST_SCHEMA, ""),
    "test_case": (TEST_SCHEMA, "/$defs/case"),
    "test_assertion": (TEST_SCHEMA, "/$defs/assertion"),
    "test_json_path": (TEST_SCHEMA, "/$defs/json_path"),
    "test_critic_rounds": (TEST_SCHEMA, "/$defs/assertion/properties/critic-rounds/anyOf/1"),
    "test_similar": (TEST_SCHEMA, "/$defs/assertion/properties/similar"),
    "test_judge": (TEST_SCHEMA, "/$defs/assertion/properties/judge"),
    "echo_answer": (TEST_SCHEMA, "/$defs/echo_answer"),
}

MODELINE = "# yaml-language-server: $schema=../schemas/{}.schema.json"

# Documents each schema must reject: (what is wrong, YAML text).
PIPELINE_BASE = """
version: 1
stages:
  plan:
    role: planner
    prompt: "Plan {{inputs.task}}"
"""

INVALID_PIPELINES = [
    ("unknown top-level key", PIPELINE_BASE + "stagse: {}\n"),
    ("unknown stage key", PIPELINE_BASE + "    retires: 3\n"),
    ("temperature 3", PIPELINE_BASE + "    temperature: 3\n"),
    ("top_p 0", PIPELINE_BASE + "    top_p: 0\n"),
    ("top_k 0", PIPELINE_BASE + "    top_k: 0\n"),
    ("max_tokens 0", PIPELINE_BASE + "    max_tokens: 0\n"),
    ("num_ctx 8", PIPELINE_BASE + "    num_ctx: 8\n"),
    ("bad size", PIPELINE_BASE + "memory_budget: 14 gigs\n"),
    ("size unit in lower case", PIPELINE_BASE + "memory_budget: 14gb\n"),
    ("negative size", PIPELINE_BASE + "memory_budget: -5\n"),
    ("bad duration", PIPELINE_BASE + "    timeout: 30 seconds\n"),
    ("zero timeout", PIPELINE_BASE + "    timeout: 0s\n"),
    ("retry max_attempts 0", PIPELINE_BASE + "    retry: {max_attempts: 0}\n"),
    ("retry max_attempts 101", PIPELINE_BASE + "    retry: {max_attempts: 101}\n"),
    ("retry multiplier 0.5", PIPELINE_BASE + "    retry: {multiplier: 0.5}\n"),
    ("unknown retry key", PIPELINE_BASE + "    retry: {attempts: 3}\n"),
    ("version 2", PIPELINE_BASE.replace("version: 1", "version: 2")),
    ("version missing", PIPELINE_BASE.replace("version: 1\n", "")),
    ("stages missing", "version: 1\n"),
    ("no stages", "version: 1\nstages: {}\n"),
    ("bad stage name", PIPELINE_BASE.replace("  plan:", "  1plan:")),
    ("bad input name", PIPELINE_BASE + "inputs: {my task: {}}\n"),
    ("unknown input key", PIPELINE_BASE + "inputs: {task: {desc: x}}\n"),
    ("upper-case pipeline name", PIPELINE_BASE + "name: Code-Task\n"),
    ("both prompt and prompt_file", PIPELINE_BASE + "    prompt_file: plan.md\n"),
    ("neither prompt nor prompt_file", "version: 1\nstages:\n  plan: {role: planner}\n"),
    ("max_rounds without reviews", PIPELINE_BASE + "    max_rounds: 2\n"),
    ("on_exhausted without reviews", PIPELINE_BASE + "    on_exhausted: accept\n"),
    ("on_exhausted retry", PIPELINE_BASE + "    reviews: x\n    on_exhausted: retry\n"),
    ("max_rounds 0", PIPELINE_BASE + "    reviews: x\n    max_rounds: 0\n"),
    ("output yaml", PIPELINE_BASE + "    output: yaml\n"),
    ("output mapping without format", PIPELINE_BASE + "    output: {schema: {type: object}}\n"),
    ("output mapping with unknown key", PIPELINE_BASE + "    output: {format: json, shape: {}}\n"),
    ("empty model chain", PIPELINE_BASE + "    model: []\n"),
    ("unknown defaults key", PIPELINE_BASE + "defaults: {role: planner}\n"),
    ("string boolean", PIPELINE_BASE + "inputs: {notes: {required: 'no'}}\n"),
]

VALID_PIPELINES = [
    ("minimal pipeline", PIPELINE_BASE),
    ("null input, model chain, stop list", """
version: 1
inputs: {task: null, notes: {required: false}, language: {default: Swift}}
stages:
  plan:
    model: [qwen2.5:14b, "openai:gpt-4o-mini"]
    stop: ["\\n\\n", END]
    needs: []
    prompt: x
"""),
    ("sizes and durations", """
version: 1
memory_budget: 512 MiB
defaults: {timeout: 2m, retry: {initial_backoff: 0, max_backoff: 1h}}
stages:
  plan:
    timeout: 1.5
    retry: {max_attempts: 1, initial_backoff: 500ms, max_backoff: 2 m, multiplier: 1}
    prompt: x
"""),
    ("integer size and auto budget", PIPELINE_BASE + "memory_budget: 1048576\n"),
    ("auto budget", PIPELINE_BASE + "memory_budget: auto\n"),
    ("critic with json output", """
version: 1
outputs: [plan]
stages:
  plan: {prompt: x, output: text}
  review:
    reviews: plan
    max_rounds: 1
    on_exhausted: accept
    needs: plan
    prompt: x
    output: {format: json, schema: {type: object, properties: {ok: {type: boolean}}}}
"""),
    ("prompt_file and json output", "version: 1\nstages:\n  plan: {prompt_file: prompts/plan.md, output: json}\n"),
]

PROFILE_BASE = """
version: 1
runtimes:
  ollama: {kind: ollama, url: "http://127.0.0.1:11434"}
models:
  mistral:7b-instruct: {runtime: ollama, footprint: 5.1GB, context_length: 32768}
roles:
  planner:
    models: [mistral:7b-instruct]
"""

INVALID_PROFILES = [
    ("unknown top-level key", PROFILE_BASE + "runtime: ollama\n"),
    ("unknown runtime kind", PROFILE_BASE.replace("kind: ollama", "kind: vllm")),
    ("runtime without url", PROFILE_BASE.replace(', url: "http://127.0.0.1:11434"', "")),
    ("unknown runtime key", PROFILE_BASE.replace("kind: ollama,", "kind: ollama, key: x,")),
    ("bad footprint", PROFILE_BASE.replace("5.1GB", "5.1 gigabytes")),
    ("bad memory_budget", PROFILE_BASE + "memory_budget: lots\n"),
    ("capability 11", PROFILE_BASE.replace("context_length: 32768}", "context_length: 32768, capabilities: {coding: 11}}")),
    ("capability that is not a number", PROFILE_BASE.replace("context_length: 32768}", "context_length: 32768, capabilities: {humor: high}}")),
    ("unknown model key", PROFILE_BASE.replace("context_length: 32768}", "context_length: 32768, ctx: 4096}")),
    ("temperature 3 in a role", PROFILE_BASE + "    temperature: 3\n"),
    ("role models not a list", PROFILE_BASE.replace("models: [mistral:7b-instruct]", "models: {a: 1}")),
    ("unknown role key", PROFILE_BASE + "    model: mistral:7b-instruct\n"),
    ("model key in profile defaults", PROFILE_BASE + "defaults: {model: mistral:7b-instruct}\n"),
    ("bad duration in defaults", PROFILE_BASE + "defaults: {timeout: soon}\n"),
    ("bad role name", PROFILE_BASE.replace("  planner:", "  plan ner:")),
    ("version missing", PROFILE_BASE.replace("version: 1\n", "")),
]

VALID_PROFILES = [
    ("minimal profile", "version: 1\n"),
    ("echo runtime without url", "version: 1\nruntimes: {echo: {kind: echo}}\ndefault_runtime: echo\n"),
    ("environment references", PROFILE_BASE.replace('"http://127.0.0.1:11434"', '"${BATON_OLLAMA_URL:-http://127.0.0.1:11434}"')
     + "memory_budget: ${BATON_MEMORY_BUDGET:-auto}\ndefaults: {timeout: \"${BATON_TIMEOUT}\"}\n"),
    ("extends, integer footprint, full sampling", PROFILE_BASE.replace("5.1GB", "5476083302")
     + "extends: default\ndefaults: {temperature: 0, top_p: 1, top_k: 1, max_tokens: 1, seed: -1, stop: END,"
     + " num_ctx: 16, timeout: 500ms, retry: {max_attempts: 100, initial_backoff: 0, max_backoff: 1h, multiplier: 1.5}}\n"),
]


TEST_BASE = """
version: 1
cases:
  - name: approves
    inputs: {task: x}
    assert:
      - contains: x
"""

INVALID_TESTS = [
    ("unknown top-level key", TEST_BASE + "profiel: x\n"),
    ("version missing", TEST_BASE.replace("version: 1\n", "")),
    ("no cases", "version: 1\ncases: []\n"),
    ("case without name", "version: 1\ncases: [{inputs: {task: x}}]\n"),
    ("unknown case key", TEST_BASE + "    asert: []\n"),
    ("expect passed", TEST_BASE + "    expect: passed\n"),
    ("list input", TEST_BASE.replace("{task: x}", "{task: [a, b]}")),
    ("unknown assertion", TEST_BASE.replace("contains: x", "contans: x")),
    ("two assertion keys", TEST_BASE + "        regex: y\n"),
    ("no assertion key", TEST_BASE.replace("- contains: x", "- stage: plan")),
    ("empty contains list", TEST_BASE.replace("contains: x", "contains: []")),
    ("max-tokens 0", TEST_BASE.replace("contains: x", "max-tokens: 0")),
    ("max-latency soon", TEST_BASE.replace("contains: x", "max-latency: soon")),
    ("is-json false", TEST_BASE.replace("contains: x", "is-json: false")),
    ("json-path with two expectations", TEST_BASE.replace("contains: x", "json-path: {path: $.a, equals: 1, exists: true}")),
    ("json-path without $", TEST_BASE.replace("contains: x", "json-path: {path: a, exists: true}")),
    ("similar without threshold", TEST_BASE.replace("contains: x", "similar: {to: x}")),
    ("judge min-score 2", TEST_BASE.replace("contains: x", "judge: {rubric: x, min-score: 2}")),
    ("echo round 0", TEST_BASE + "    echo: {plan: {0: {output: x}}}\n"),
    ("echo unknown answer key", TEST_BASE + "    echo: {plan: {1: {outptu: x}}}\n"),
    ("echo fail sometimes", TEST_BASE + "    echo: {plan: {1: {fail: sometimes}}}\n"),
]

VALID_TESTS = [
    ("minimal test file", TEST_BASE),
    ("every assertion", TEST_BASE + """    expect: failed
    skip: slow
    description: all of them
    echo:
      review: {1: {verdict: revise, feedback: More.}, 2: {verdict: approve}}
      "plan[0]": {"*": {output: x, delay: 2s, thinking: t, finish: length}}
      flaky: {1: {fail: transient, times: 2}}
  - name: second
    assert:
      - {stage: plan, icontains: [A, b], description: d}
      - not-contains: TODO
      - equals: {a: [1, x]}
      - regex: "^1\\\\."
      - is-json: true
      - is-json: {schema: {type: object, required: [verdict]}}
      - json-path: {path: "$.items[-1]['a b']", equals: 3}
      - json-path: {path: "$[*]", exists: false}
      - max-tokens: 400
      - max-latency: 30s
      - critic-rounds: 2
      - critic-rounds: {min: 2, max: 3}
      - stages-run: [plan, review]
      - stages-skipped: escalate
      - similar: {to: health check, threshold: 0.8, model: all-minilm}
      - judge: {rubric: "Is it testable?", min-score: 0.7}
"""),
]


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def resolve_pointer(document, pointer):
    node = document
    for part in [p for p in pointer.split("/") if p]:
        key = part.replace("~1", "/").replace("~0", "~")
        node = node[int(key)] if isinstance(node, list) else node[key]
    return node


def subschemas(node, path="#"):
    """Yield (json-pointer path, schema object) for every schema object nested in node."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            if key in ("properties", "$defs", "dependentSchemas", "patternProperties"):
                for name, sub in value.items():
                    yield from subschemas(sub, f"{path}/{key}/{name}")
            elif key in ("anyOf", "oneOf", "allOf", "prefixItems"):
                for i, sub in enumerate(value):
                    yield from subschemas(sub, f"{path}/{key}/{i}")
            elif key in ("items", "additionalProperties", "propertyNames", "contains",
                         "unevaluatedProperties", "unevaluatedItems"):
                # Not "if", "then", "else", "not": those are conditions, not declared objects.
                yield from subschemas(value, f"{path}/{key}")


def schema_problems(schema):
    """Problems of a schema beyond the meta-schema: missing descriptions, open objects."""
    problems = []
    for path, node in subschemas(schema):
        for name, sub in node.get("properties", {}).items():
            description = sub.get("description") if isinstance(sub, dict) else None
            if not isinstance(description, str) or not description.strip():
                problems.append(f"{path}/properties/{name}: no description")
        if ("properties" in node or node.get("type") == "object") and "additionalProperties" not in node:
            problems.append(f"{path}: object without additionalProperties")
        # Objects with fixed keys are closed; the one open map (capability scores) types its extra values.
        if "properties" in node and node.get("additionalProperties") is not False and not (
            isinstance(node.get("additionalProperties"), dict) and path.endswith("/capabilities")
        ):
            problems.append(f"{path}: object with properties must have additionalProperties: false")
    for name, sub in schema.get("$defs", {}).items():
        if not str(sub.get("description", "")).strip():
            problems.append(f"#/$defs/{name}: no description")
    for key in ("$schema", "$id", "title", "description"):
        if key not in schema:
            problems.append(f"#: no {key}")
    return problems


def first_error(validator, document):
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if not errors:
        return None
    error = errors[0]
    where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
    return f"{where}: {error.message}"


def check_file(path, kind, validator):
    """Validate one shipped YAML file; return a list of problems."""
    text = path.read_text(encoding="utf-8")
    problems = []
    first_line = text.splitlines()[0] if text else ""
    if first_line != MODELINE.format(kind):
        problems.append(f"first line is not '{MODELINE.format(kind)}'")
    try:
        document = yaml.load(text, Loader=Yaml12Loader)
    except yaml.YAMLError as error:
        return problems + [f"YAML: {error}"]
    error = first_error(validator, document)
    if error:
        problems.append(error)
    if kind == "test" and isinstance(document, dict):
        for case in document.get("cases") or []:
            for item in (case.get("assert") or []) if isinstance(case, dict) else []:
                is_json = item.get("is-json") if isinstance(item, dict) else None
                if isinstance(is_json, dict) and "schema" in is_json:
                    try:
                        Draft202012Validator.check_schema(is_json["schema"])
                    except Exception as error:  # jsonschema.SchemaError
                        problems.append(f"case {case.get('name')!r}: is-json schema is not a valid JSON Schema: {error.message}")
    if kind == "pipeline" and isinstance(document, dict):
        for name, stage in (document.get("stages") or {}).items():
            output = stage.get("output") if isinstance(stage, dict) else None
            if isinstance(output, dict) and "schema" in output:
                try:
                    Draft202012Validator.check_schema(output["schema"])
                except Exception as error:  # jsonschema.SchemaError
                    problems.append(f"stages/{name}/output/schema is not a valid JSON Schema: {error.message}")
    return problems


def dump_properties():
    result = {}
    for key, (path, pointer) in OBJECT_DEFINITIONS.items():
        definition = resolve_pointer(load_json(path), pointer)
        result[key] = sorted(definition["properties"])
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dump-properties", action="store_true",
                        help="print the sorted property names of each object definition as JSON and exit")
    args = parser.parse_args()

    if args.dump_properties:
        print(json.dumps(dump_properties(), indent=2))
        return 0

    passed = failed = 0

    def report(ok, label, detail=""):
        nonlocal passed, failed
        if ok:
            passed += 1
            print(f"ok    {label}")
        else:
            failed += 1
            print(f"FAIL  {label}: {detail}")

    validators = {}
    for kind, path in (("pipeline", PIPELINE_SCHEMA), ("profile", PROFILE_SCHEMA), ("test", TEST_SCHEMA)):
        label = str(path.relative_to(ROOT))
        try:
            schema = load_json(path)
            Draft202012Validator.check_schema(schema)
        except Exception as error:
            report(False, label, str(getattr(error, "message", error)))
            continue
        problems = schema_problems(schema)
        report(not problems, label, "; ".join(problems))
        validators[kind] = Draft202012Validator(schema)

    if "pipeline" in validators and "profile" in validators:
        pipeline_retry = sorted(resolve_pointer(load_json(PIPELINE_SCHEMA), "/$defs/retry")["properties"])
        profile_retry = sorted(resolve_pointer(load_json(PROFILE_SCHEMA), "/$defs/retry")["properties"])
        report(pipeline_retry == profile_retry, "retry has the same keys in both schemas",
               f"{pipeline_retry} != {profile_retry}")

    for kind, directory in (("pipeline", ROOT / "pipelines"), ("test", ROOT / "pipelines"), ("profile", ROOT / "profiles")):
        if kind not in validators:
            continue
        files = sorted(directory.glob("*.yaml")) + sorted(directory.glob("*.yml"))
        # NAME.test.yaml beside a pipeline is its test file, checked against the test schema.
        is_test = lambda path: path.name.endswith((".test.yaml", ".test.yml"))
        files = [path for path in files if is_test(path) == (kind == "test")]
        if not files:
            report(False, f"{directory.relative_to(ROOT)}/", "no files to check")
        for path in files:
            problems = check_file(path, kind, validators[kind])
            report(not problems, str(path.relative_to(ROOT)), "; ".join(problems))

    cases = (("pipeline", INVALID_PIPELINES, VALID_PIPELINES), ("profile", INVALID_PROFILES, VALID_PROFILES),
             ("test", INVALID_TESTS, VALID_TESTS))
    for kind, invalid, valid in cases:
        if kind not in validators:
            continue
        for label, text in invalid:
            try:
                document = yaml.load(text, Loader=Yaml12Loader)
            except yaml.YAMLError as error:
                report(False, f"{kind} schema rejects: {label}", f"the test document is not YAML: {error}")
                continue
            report(not validators[kind].is_valid(document), f"{kind} schema rejects: {label}", "accepted")
        for label, text in valid:
            try:
                document = yaml.load(text, Loader=Yaml12Loader)
            except yaml.YAMLError as error:
                report(False, f"{kind} schema accepts: {label}", f"the test document is not YAML: {error}")
                continue
            error = first_error(validators[kind], document)
            report(error is None, f"{kind} schema accepts: {label}", error)

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
