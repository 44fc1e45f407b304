package dev.attune.model.prompt;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.filter.Filter;
import com.hubspot.jinjava.objects.SafeString;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * The {@code tojson} filter as Hugging Face defines it for chat templates:
 * {@code json.dumps(x, ensure_ascii=False, indent=indent, separators=separators,
 * sort_keys=sort_keys)}, byte for byte: {@code ", "} and {@code ": "} between items (
 * {@code ","} and {@code ": "} with an indent), non-ASCII text as is, Python's float repr.
 *
 * <p>Stateless; safe from any thread. A value that JSON cannot hold, or one that contains
 * itself, is an {@link IllegalArgumentException} (reported as a template error).
 */
final class PythonJson implements Filter {

    @Override
    public String getName() {
        return "tojson";
    }

    @Override
    public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
        return filter(var, interpreter, args, Map.of());
    }

    @Override
    public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
        Object indent = kwargs.containsKey("indent") ? kwargs.get("indent") : args.length > 0 ? args[0] : null;
        boolean sortKeys = Boolean.TRUE.equals(kwargs.get("sort_keys"));
        boolean ascii = Boolean.TRUE.equals(kwargs.get("ensure_ascii"));
        String ind = null;
        if (indent instanceof Number) {
            ind = " ".repeat(Math.max(0, ((Number) indent).intValue()));
        } else if (indent instanceof String) {
            ind = (String) indent;
        }
        String itemSep = ind == null ? ", " : ",";
        String keySep = ": ";
        Object seps = kwargs.get("separators");
        if (seps instanceof List && ((List<?>) seps).size() == 2) {
            itemSep = String.valueOf(((List<?>) seps).get(0));
            keySep = String.valueOf(((List<?>) seps).get(1));
        }
        StringBuilder sb = new StringBuilder();
        new Writer(ind, itemSep, keySep, sortKeys, ascii, sb).value(var, 0);
        return sb.toString();
    }

    /** {@code json.dumps(value, ensure_ascii=False)}. */
    static String dumps(Object value) {
        StringBuilder sb = new StringBuilder();
        new Writer(null, ", ", ": ", false, false, sb).value(value, 0);
        return sb.toString();
    }

    private static final class Writer {
        private final String indent;
        private final String itemSep;
        private final String keySep;
        private final boolean sortKeys;
        private final boolean ascii;
        private final StringBuilder out;
        private final IdentityHashMap<Object, Boolean> open = new IdentityHashMap<>();

        Writer(String indent, String itemSep, String keySep, boolean sortKeys, boolean ascii, StringBuilder out) {
            this.indent = indent;
            this.itemSep = itemSep;
            this.keySep = keySep;
            this.sortKeys = sortKeys;
            this.ascii = ascii;
            this.out = out;
        }

        void value(Object v, int depth) {
            if (v == null) {
                out.append("null");
            } else if (v instanceof Boolean) {
                out.append((Boolean) v ? "true" : "false");
            } else if (v instanceof String || v instanceof SafeString || v instanceof Character) {
                string(v.toString());
            } else if (v instanceof Double || v instanceof Float) {
                out.append(PythonRepr.floatRepr(((Number) v).doubleValue()));
            } else if (v instanceof BigDecimal) {
                out.append(PythonRepr.floatRepr(((BigDecimal) v).doubleValue()));
            } else if (v instanceof Number) {
                out.append(v instanceof BigInteger ? v.toString() : Long.toString(((Number) v).longValue()));
            } else if (v instanceof Map) {
                enter(v);
                Map<?, ?> m = (Map<?, ?>) v;
                List<Map.Entry<?, ?>> entries = new ArrayList<>(m.entrySet());
                if (sortKeys) {
                    entries.sort((a, b) -> String.valueOf(a.getKey()).compareTo(String.valueOf(b.getKey())));
                }
                if (entries.isEmpty()) {
                    out.append("{}");
                } else {
                    out.append('{');
                    for (int i = 0; i < entries.size(); i++) {
                        out.append(i == 0 ? "" : itemSep);
                        newline(depth + 1);
                        string(key(entries.get(i).getKey()));
                        out.append(keySep);
                        value(entries.get(i).getValue(), depth + 1);
                    }
                    newline(depth);
                    out.append('}');
                }
                open.remove(v);
            } else if (v instanceof Collection || v instanceof Object[]) {
                enter(v);
                Collection<?> c = v instanceof Collection ? (Collection<?>) v : Arrays.asList((Object[]) v);
                if (c.isEmpty()) {
                    out.append("[]");
                } else {
                    out.append('[');
                    int i = 0;
                    for (Object o : c) {
                        out.append(i++ == 0 ? "" : itemSep);
                        newline(depth + 1);
                        value(o, depth + 1);
                    }
                    newline(depth);
                    out.append(']');
                }
                open.remove(v);
            } else {
                throw new IllegalArgumentException(
                        "tojson: a " + v.getClass().getSimpleName() + " is not JSON serializable");
            }
        }

        private void enter(Object v) {
            if (open.put(v, Boolean.TRUE) != null) {
                throw new IllegalArgumentException("tojson: circular reference");
            }
        }

        private String key(Object k) {
            if (k == null) {
                return "null";
            }
            if (k instanceof Boolean) {
                return (Boolean) k ? "true" : "false";
            }
            if (k instanceof Double || k instanceof Float) {
                return PythonRepr.floatRepr(((Number) k).doubleValue());
            }
            return k.toString();
        }

        private void newline(int depth) {
            if (indent != null) {
                out.append('\n');
                for (int i = 0; i < depth; i++) {
                    out.append(indent);
                }
            }
        }

        private void string(String s) {
            out.append('"');
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                switch (c) {
                    case '"':
                        out.append("\\\"");
                        break;
                    case '\\':
                        out.append("\\\\");
                        break;
                    case '\n':
                        out.append("\\n");
                        break;
                    case '\r':
                        out.append("\\r");
                        break;
                    case '\t':
                        out.append("\\t");
                        break;
                    case '\b':
                        out.append("\\b");
                        break;
                    case '\f':
                        out.append("\\f");
                        break;
                    default:
                        if (c < 0x20 || (ascii && c > 0x7e)) {
                            out.append(String.format("\\u%04x", (int) c));
                        } else {
                            out.append(c);
                        }
                }
            }
            out.append('"');
        }
    }
}
