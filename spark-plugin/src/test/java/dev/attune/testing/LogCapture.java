package dev.attune.testing;

import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.core.LogEvent;
import org.apache.logging.log4j.core.Logger;
import org.apache.logging.log4j.core.appender.AbstractAppender;
import org.apache.logging.log4j.core.config.Property;

/**
 * The log lines one class writes while a test runs (level and formatted message, e.g. {@code "WARN
 * attune: ..."}), through a real log4j appender attached to that class's logger. Close it to detach.
 */
public final class LogCapture extends AbstractAppender implements AutoCloseable {

    private final Logger logger;
    private final List<String> messages = new ArrayList<>();

    private LogCapture(Logger logger) {
        super("capture-" + UUID.randomUUID(), null, null, true, Property.EMPTY_ARRAY);
        this.logger = logger;
    }

    /** Starts capturing what {@code cls}'s logger writes (at the configured level: WARN in tests). */
    public static LogCapture of(Class<?> cls) {
        LogCapture c = new LogCapture((Logger) LogManager.getLogger(cls));
        c.start();
        c.logger.addAppender(c);
        return c;
    }

    @Override
    public synchronized void append(LogEvent event) {
        messages.add(event.getLevel() + " " + event.getMessage().getFormattedMessage());
    }

    /** The lines so far. */
    public synchronized List<String> messages() {
        return List.copyOf(messages);
    }

    @Override
    public void close() {
        logger.removeAppender(this);
        stop();
    }
}
