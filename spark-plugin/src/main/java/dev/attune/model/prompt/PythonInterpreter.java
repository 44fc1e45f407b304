package dev.attune.model.prompt;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.interpret.Context;
import com.hubspot.jinjava.interpret.InterpreterFactory;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.objects.date.StrftimeFormatter;
import java.time.Instant;
import java.time.ZonedDateTime;
import java.util.Locale;

/**
 * A jinjava interpreter that prints values as Python's {@code str()} does, checks every
 * expression's value against the render's {@link RenderBudget}, and carries the globals Hugging
 * Face gives chat templates ({@code raise_exception}, {@code strftime_now}). One per render (plus
 * children for macro calls), used by one thread.
 */
final class PythonInterpreter extends JinjavaInterpreter {

    /** What {@code raise_exception(message)} throws; jinjava records it as the error's cause. */
    static final class Raised extends RuntimeException {
        Raised(String message) {
            super(message, null, false, false);
        }
    }

    /** The interpreter factory for {@link JinjavaConfig.Builder#withInterperterFactory}. */
    static final InterpreterFactory FACTORY = new InterpreterFactory() {
        @Override
        public JinjavaInterpreter newInstance(JinjavaInterpreter orig) {
            return new PythonInterpreter(orig);
        }

        @Override
        public JinjavaInterpreter newInstance(Jinjava application, Context context, JinjavaConfig config) {
            return new PythonInterpreter(application, context, config);
        }
    };

    private RenderBudget budget;

    private PythonInterpreter(Jinjava application, Context context, JinjavaConfig config) {
        super(application, context, config);
    }

    private PythonInterpreter(JinjavaInterpreter orig) {
        super(orig);
        if (orig instanceof PythonInterpreter) {
            this.budget = ((PythonInterpreter) orig).budget;
        }
    }

    void budget(RenderBudget budget) {
        this.budget = budget;
    }

    RenderBudget budget() {
        return budget;
    }

    /** The node pre-processor: one step of the budget per node rendered. */
    static void tick(Object node, JinjavaInterpreter interpreter) {
        if (interpreter instanceof PythonInterpreter && ((PythonInterpreter) interpreter).budget != null) {
            ((PythonInterpreter) interpreter).budget.tick();
        }
    }

    @Override
    public Object resolveELExpression(String expression, int lineNumber) {
        Object v = super.resolveELExpression(expression, lineNumber);
        if (budget != null) {
            budget.check(v);
        }
        return v;
    }

    /** Every loop iteration wraps its next item: one step of the budget, so empty loops count too. */
    @Override
    public Object wrap(Object object) {
        if (budget != null) {
            budget.tick();
        }
        return super.wrap(object);
    }

    @Override
    public String getAsString(Object object) {
        return PythonRepr.str(object);
    }

    // ---- template globals (static: jinjava calls functions statically) ----

    /** {@code raise_exception(message)}. */
    public static Object raiseException(Object message) {
        throw new Raised(String.valueOf(message));
    }

    /** {@code strftime_now(format)}: the render's clock, formatted as Python's strftime would. */
    public static String strftimeNow(String format) {
        JinjavaInterpreter in = JinjavaInterpreter.getCurrent();
        JinjavaConfig c = in.getConfig();
        ZonedDateTime now = ZonedDateTime.ofInstant(
                Instant.ofEpochMilli(c.getDateTimeProvider().getCurrentTimeMillis()), c.getTimeZone());
        return StrftimeFormatter.format(now, format, Locale.ENGLISH);
    }
}
