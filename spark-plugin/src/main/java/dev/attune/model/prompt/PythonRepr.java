package dev.attune.model.prompt;

import com.hubspot.jinjava.objects.SafeString;
import java.math.BigDecimal;
import java.util.Arrays;
import java.util.Collection;
import java.util.Iterator;
import java.util.Map;

/**
 * How Jinja2 prints a value with {@code {{ }}}: Python's {@code str()}, so {@code True},
 * {@code 2.0}, {@code 1e-05}, {@code ['a', 'b']}, {@code {'k': 1}}. One difference remains:
 * jinjava cannot tell an undefined variable from None, so null prints as nothing (Jinja2 prints
 * {@code None} for an explicit None and nothing for an undefined value).
 *
 * <p>Stateless; safe from any thread.
 */
final class PythonRepr {

    private PythonRepr() {}

    /** Python's {@code str(value)}, with null printed as the empty string. */
    static String str(Object v) {
        if (v == null) {
            return "";
        }
        if (v instanceof String || v instanceof SafeString) {
            return v.toString();
        }
        return repr(v);
    }

    static String repr(Object v) {
        if (v == null) {
            return "None";
        }
        if (v instanceof Boolean) {
            return (Boolean) v ? "True" : "False";
        }
        if (v instanceof Double || v instanceof Float) {
            return floatRepr(((Number) v).doubleValue());
        }
        if (v instanceof BigDecimal) {
            return floatRepr(((BigDecimal) v).doubleValue());
        }
        if (v instanceof String || v instanceof SafeString) {
            return stringRepr(v.toString());
        }
        if (v instanceof Map) {
            StringBuilder sb = new StringBuilder("{");
            Iterator<? extends Map.Entry<?, ?>> it = ((Map<?, ?>) v).entrySet().iterator();
            while (it.hasNext()) {
                Map.Entry<?, ?> e = it.next();
                sb.append(repr(e.getKey())).append(": ").append(e.getValue() == v ? "{...}" : repr(e.getValue()));
                if (it.hasNext()) {
                    sb.append(", ");
                }
            }
            return sb.append('}').toString();
        }
        if (v instanceof Collection || v instanceof Object[]) {
            Collection<?> c = v instanceof Collection ? (Collection<?>) v : Arrays.asList((Object[]) v);
            StringBuilder sb = new StringBuilder("[");
            Iterator<?> it = c.iterator();
            while (it.hasNext()) {
                Object o = it.next();
                sb.append(o == v ? "[...]" : repr(o));
                if (it.hasNext()) {
                    sb.append(", ");
                }
            }
            return sb.append(']').toString();
        }
        return v.toString();
    }

    /** Python's {@code repr(float)}: shortest round-trip digits, exponent form outside 1e-4..1e16. */
    static String floatRepr(double d) {
        if (Double.isNaN(d)) {
            return "nan";
        }
        if (Double.isInfinite(d)) {
            return d > 0 ? "inf" : "-inf";
        }
        if (d == 0) {
            return (1 / d < 0) ? "-0.0" : "0.0";
        }
        BigDecimal bd = new BigDecimal(Double.toString(Math.abs(d))).stripTrailingZeros();
        String digits = bd.unscaledValue().toString();
        int exp = digits.length() - 1 - bd.scale(); // decimal exponent of the first digit
        String sign = d < 0 ? "-" : "";
        if (exp >= -4 && exp < 16) {
            String plain = bd.toPlainString();
            return sign + (plain.contains(".") ? plain : plain + ".0");
        }
        String mant = digits.length() == 1 ? digits : digits.charAt(0) + "." + digits.substring(1);
        String e = String.format("%02d", Math.abs(exp));
        return sign + mant + "e" + (exp < 0 ? "-" : "+") + e;
    }

    /** Python's {@code repr(str)} for the common cases: quotes chosen as Python does, escapes. */
    static String stringRepr(String s) {
        char q = s.indexOf('\'') >= 0 && s.indexOf('"') < 0 ? '"' : '\'';
        StringBuilder sb = new StringBuilder().append(q);
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == q || c == '\\') {
                sb.append('\\').append(c);
            } else if (c == '\n') {
                sb.append("\\n");
            } else if (c == '\r') {
                sb.append("\\r");
            } else if (c == '\t') {
                sb.append("\\t");
            } else if (c < 0x20 || c == 0x7f) {
                sb.append(String.format("\\x%02x", (int) c));
            } else {
                sb.append(c);
            }
        }
        return sb.append(q).toString();
    }
}
