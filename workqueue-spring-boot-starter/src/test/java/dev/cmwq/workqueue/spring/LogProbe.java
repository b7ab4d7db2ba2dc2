package dev.cmwq.workqueue.spring;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.AppenderBase;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Predicate;
import org.slf4j.LoggerFactory;

/**
 * A logback appender that runs an action, once, on the logging thread, when a logger logs a
 * matching message: lets a test react to a point in a shutdown it can't otherwise observe.
 */
final class LogProbe extends AppenderBase<ILoggingEvent> {

    private final Logger logger;
    private final Predicate<String> match;
    private final Runnable action;
    private final AtomicBoolean fired = new AtomicBoolean();

    private LogProbe(Logger logger, Predicate<String> match, Runnable action) {
        this.logger = logger;
        this.match = match;
        this.action = action;
    }

    static LogProbe attach(String loggerName, Predicate<String> match, Runnable action) {
        LogProbe p = new LogProbe((Logger) LoggerFactory.getLogger(loggerName), match, action);
        p.start();
        p.logger.addAppender(p);
        return p;
    }

    @Override
    protected void append(ILoggingEvent e) {
        if (match.test(e.getFormattedMessage()) && fired.compareAndSet(false, true)) {
            action.run();
        }
    }

    boolean fired() {
        return fired.get();
    }

    void detach() {
        logger.detachAppender(this);
        stop();
    }
}
