#!/usr/bin/env python3
"""Renders chat conversations the way Hugging Face's tokenizer.apply_chat_template(...,
tokenize=False) does, and writes them to fixtures.json for ChatTemplateFixturesTest.

Mirrors transformers' _compile_jinja_template / render: an ImmutableSandboxedEnvironment with
trim_blocks, lstrip_blocks and the loopcontrols extension; HF's own tojson filter; the globals
raise_exception and strftime_now; the template rendered with messages, tools=None, documents=None,
add_generation_prompt, the tokenizer's special tokens (those that are set) and extra kwargs.

strftime_now reads a fixed clock (FIXED_NOW, UTC), as the Java test does, so the fixtures do not
change with the date.

Run from this directory:  python3 render_fixtures.py   (needs jinja2 >= 3.1)
"""
import json
import os
from datetime import datetime, timezone

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
TOKENIZERS = os.path.join(HERE, "..", "tokenizers")
# 2024-07-26T09:05:03Z, in epoch milliseconds (the Java test uses Clock.fixed at the same instant)
FIXED_NOW_MILLIS = 1721984703000
FIXED_NOW = datetime.fromtimestamp(FIXED_NOW_MILLIS / 1000, tz=timezone.utc)

SPECIAL_TOKEN_KEYS = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token",
                      "cls_token", "mask_token", "additional_special_tokens"]

# A Llama 3.1-style header: the date comes from strftime_now unless date_string is passed.
DATED_TEMPLATE = (
    "{{- bos_token }}\n"
    "{%- if not date_string is defined %}\n"
    "    {%- set date_string = strftime_now(\"%d %b %Y\") %}\n"
    "{%- endif %}\n"
    "{%- if messages[0]['role'] == 'system' %}\n"
    "    {%- set system_message = messages[0]['content']|trim %}\n"
    "    {%- set messages = messages[1:] %}\n"
    "{%- else %}\n"
    "    {%- set system_message = \"\" %}\n"
    "{%- endif %}\n"
    "{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}\n"
    "{{- \"Today Date: \" + date_string + \"\\n\\n\" }}\n"
    "{{- system_message }}\n"
    "{{- \"<|eot_id|>\" }}\n"
    "{%- for message in messages %}\n"
    "    {%- if message.role not in ['user', 'assistant'] %}\n"
    "        {{- raise_exception('Only user and assistant roles are supported, got ' + message.role) }}\n"
    "    {%- endif %}\n"
    "    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}\n"
    "{%- endif %}\n"
)

# Python-isms HF templates use: slices with steps, str methods, namespace kwargs with
# expressions, tojson, loop controls.
PYISH_TEMPLATE = (
    "{%- set ns = namespace(n=messages|length - 1, seen=0) %}\n"
    "{%- for m in messages[::-1] %}{{ m.role[:1] }}{% endfor %}|\n"
    "{%- for m in messages[1::2] %}{{ m.role }},{% endfor %}|\n"
    "{%- for m in messages %}\n"
    "{%- if m.content.startswith('#') %}{% continue %}{% endif %}\n"
    "{%- set ns.seen = ns.seen + 1 %}\n"
    "[{{ m.content.strip() }}|{{ m.content.upper() }}|{{ m.content.split()|length }}|"
    "{{ m.content.split(',', 1)[0] }}|{{ m.content.replace('a', 'A') }}|{{ m.content[::-1] }}|"
    "{{ m.content[-3:] }}|{{ m.content.rstrip('!').lstrip('H') }}|{{ m.content.endswith(('!', '?')) }}]\n"
    "{%- endfor %}\n"
    "{{ ns.n }}/{{ ns.seen }}\n"
    "{{ not 1 == 2 }},{{ not none is none }},{{ not messages[0].content is string }},"
    "{{ 'x' if not messages|length > 3 else 'y' }},{{ not not messages }},"
    "{{ 'in' if 'zz' not in messages[0].content and not 'qq' in messages[0].content }},"
    "{{ 3.0 }},{{ 1e-5 * 1 }},{{ [1, 'a', none, true] }}\n"
    "{%- for m in messages %}{% if loop.index > 2 %}{% break %}{% endif %}{{ loop.index }}{% endfor %}\n"
    "{{ messages[0] | tojson }}\n"
    "{{ {'b': [1, 2.5, none, true], 'a': 'é\"\\n'} | tojson(indent=2) }}\n"
    "{%- if add_generation_prompt %}<gen>{% endif %}\n"
)


# More str and dict methods, each compared with Python's own.
METHODS_TEMPLATE = (
    "{%- for m in messages %}\n"
    "{%- set c = m.content %}\n"
    "<{{ c.rsplit(' ', 1)|tojson }}{{ c.split(' ', 2)|tojson }}{{ c.split('o')|tojson }}"
    "{{ c.splitlines()|tojson }}{{ c.title() }}|{{ c.capitalize() }}|{{ c.lower() }}|"
    "{{ c.find('o') }}|{{ c.rfind('o') }}|{{ c.count('e') }}|{{ '-'.join(c.split()) }}|"
    "{{ c.removeprefix('Hel') }}|{{ c.removesuffix('?') }}|{{ c.strip('.!? ') }}|"
    "{{ c.replace('l', 'L', 1) }}|{{ c.startswith('He', 0) }}|{{ c.isspace() }}|{{ c[1:-1:2] }}|"
    "{{ c[-100:100] }}|{{ c[5:2] }}|{{ c[::-3] }}>\n"
    "{%- endfor %}\n"
    "{%- set d = {'role': 'x', 'n': 2} %}\n"
    "{{ d.get('role') }},{{ d.get('missing', 'dflt') }},{{ d.get('missing') is none }},"
    "{%- for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}"
    "{{ d.keys()|list|tojson }}{{ messages[-1].role }}{{ messages[:-1]|length }}"
    "{{ (messages|map(attribute='role')|list)[::2]|tojson }}{{ [3, 1, 2]|sort|tojson }}"
    "{{ messages|selectattr('role', 'equalto', 'user')|list|length }}\n"
)


# Two well-known published templates that raise_exception on conversations they refuse
# (Mistral 7B Instruct v0.1 and Gemma's), rendered with the Llama 2 tokenizer's <s> and </s>.
MISTRAL_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"
)
GEMMA_TEMPLATE = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
    "{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}"
    "{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}"
)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    # transformers.utils.chat_template_utils._compile_jinja_template
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                      sort_keys=sort_keys)


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def strftime_now(fmt):
    return FIXED_NOW.strftime(fmt)


def compile_template(source):
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env.from_string(source)


def load_config(model):
    with open(os.path.join(TOKENIZERS, model, "tokenizer_config.json"), encoding="utf-8") as f:
        return json.load(f)


def token_text(v):
    return v.get("content") if isinstance(v, dict) else v


def special_tokens(config):
    out = {}
    for k in SPECIAL_TOKEN_KEYS:
        v = config.get(k)
        if v is None:
            continue
        out[k] = [token_text(t) for t in v] if isinstance(v, list) else token_text(v)
    return out


def model_template(config):
    t = config["chat_template"]
    if isinstance(t, list):
        t = {e["name"]: e["template"] for e in t}["default"]
    return t


def render(source, config, messages, add_generation_prompt, extra):
    # apply_chat_template(conversation, tools=None, documents=None, add_generation_prompt, **kwargs):
    # tools and documents are its own parameters, the rest joins the special tokens
    extra = dict(extra)
    tools = extra.pop("tools", None)
    documents = extra.pop("documents", None)
    kwargs = {**special_tokens(config), **extra}
    return compile_template(source).render(messages=messages, tools=tools, documents=documents,
                                           add_generation_prompt=add_generation_prompt, **kwargs)


def msgs(*pairs):
    return [{"role": r, "content": c} for r, c in pairs]


CONVERSATIONS = {
    "single_user": msgs(("user", "Hello!")),
    "system_user": msgs(("system", "You are a helpful assistant."), ("user", "What is 2+2?")),
    "multi_turn": msgs(("system", "Be brief."), ("user", "Hi"), ("assistant", "Hello! How can I help?"),
                       ("user", "Tell me a joke.")),
    "special_chars": msgs(("user", "Line one\nline two\n\n  indented \"quoted\" 'single' {{ not a var }} "
                                   "{% raw %} {# no #} \\ backslash\ttab"),
                          ("assistant", "Café, 中文, emoji 🎉👍🏽, ß, Ω"),
                          ("user", "  leading and trailing spaces  \n")),
    "empty_content": msgs(("system", ""), ("user", ""), ("assistant", ""), ("user", "x")),
    "thinking_history": msgs(("user", "What is 3*4?"),
                             ("assistant", "<think>\n3 times 4 is 12.\n</think>\n\nIt is 12."),
                             ("user", "And 5*6?"),
                             ("assistant", "<think>\nFive sixes: 30.\n</think>\n\n30.")),
    "alternating": msgs(("user", "Hi"), ("assistant", "Hello"), ("user", "How are you?")),
    "not_alternating": msgs(("user", "Hi"), ("user", "Anyone there?")),
    "thinking_last": msgs(("user", "What is 3*4?"),
                          ("assistant", "<think>\n3 times 4 is 12.\n</think>\n\nIt is 12.")),
}

CASES = []


def add(template, conv, gen, extra=None):
    CASES.append({"template": template, "conversation": conv, "add_generation_prompt": gen,
                  "extra": extra or {}})


for conv in ["single_user", "system_user", "multi_turn", "special_chars", "empty_content"]:
    for gen in (True, False):
        add("llama3", conv, gen)
        add("qwen3", conv, gen)
for conv in ["thinking_history", "thinking_last"]:
    for gen in (True, False):
        add("qwen3", conv, gen)
for conv in ["single_user", "multi_turn", "thinking_history"]:
    add("qwen3", conv, True, {"enable_thinking": False})
    add("qwen3", conv, True, {"enable_thinking": True})
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city, in °C — «now».",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer",
                   "minimum": 1, "maximum": 7.5}}, "required": ["city"], "additionalProperties": False}}}]
add("qwen3", "system_user", True, {"tools": TOOLS})
add("qwen3", "single_user", True, {"tools": TOOLS, "enable_thinking": False})
for conv in ["system_user", "multi_turn", "special_chars"]:
    add("dated", conv, True)
add("dated", "system_user", False, {"date_string": "01 Jan 2030"})
for t in ["mistral", "gemma"]:
    for conv in ["single_user", "system_user", "multi_turn", "alternating", "not_alternating", "special_chars"]:
        add(t, conv, True)
for conv in ["multi_turn", "special_chars", "empty_content"]:
    add("pyish", conv, True)
    add("pyish", conv, False)
    add("methods", conv, True)

# Inline templates: name -> (the tokenizer whose special tokens they render with, source)
TEMPLATES = {"dated": ("llama3", DATED_TEMPLATE), "pyish": ("llama3", PYISH_TEMPLATE),
             "methods": ("llama3", METHODS_TEMPLATE), "mistral": ("llama2", MISTRAL_TEMPLATE),
             "gemma": ("llama2", GEMMA_TEMPLATE)}


def main():
    out = []
    for c in CASES:
        if c["template"] in TEMPLATES:
            config = load_config(TEMPLATES[c["template"]][0])
            source = TEMPLATES[c["template"]][1]
        else:
            config = load_config(c["template"])
            source = model_template(config)
        messages = CONVERSATIONS[c["conversation"]]
        case = {**c, "messages": messages}
        try:
            case["expected"] = render(source, config, messages, c["add_generation_prompt"], c["extra"])
        except jinja2.exceptions.TemplateError as e:
            # raise_exception: the Java side must fail with this message
            case["expected_error"] = str(e)
        out.append(case)
    doc = {
        "generator": "render_fixtures.py, jinja2 " + jinja2.__version__,
        "fixed_now_millis": FIXED_NOW_MILLIS,
        "templates": {k: {"model": m, "source": src} for k, (m, src) in TEMPLATES.items()},
        "cases": out,
    }
    with open(os.path.join(HERE, "fixtures.json"), "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{len(out)} cases")


if __name__ == "__main__":
    main()
