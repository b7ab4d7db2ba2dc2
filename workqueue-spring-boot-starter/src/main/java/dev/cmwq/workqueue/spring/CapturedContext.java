package dev.cmwq.workqueue.spring;

import io.micrometer.context.ContextSnapshot;
import io.micrometer.context.ContextSnapshotFactory;
import java.util.Map;
import org.slf4j.MDC;
import org.springframework.util.ClassUtils;

/**
 * The caller's context, captured when a work item is queued and restored while it runs: the SLF4J
 * MDC always, and with {@code io.micrometer:context-propagation} on the class path every
 * registered {@code ThreadLocalAccessor} (Micrometer's current observation, hence tracing spans),
 * as Spring's {@code ContextPropagatingTaskDecorator} does. Immutable once captured.
 */
final class CapturedContext {

    private static final boolean CONTEXT_PROPAGATION = ClassUtils.isPresent("io.micrometer.context.ContextSnapshotFactory",
            CapturedContext.class.getClassLoader());

    private final Map<String, String> mdc;
    /** A {@code ContextSnapshot}, or null without context-propagation. */
    private final Object snapshot;

    private CapturedContext(Map<String, String> mdc, Object snapshot) {
        this.mdc = mdc;
        this.snapshot = snapshot;
    }

    /** The calling thread's context now. */
    static CapturedContext capture() {
        return new CapturedContext(MDC.getCopyOfContextMap(), CONTEXT_PROPAGATION ? Snapshots.capture() : null);
    }

    /** Runs {@code body} with this context, then puts the thread's own context back. */
    void run(Runnable body) {
        Map<String, String> previous = MDC.getCopyOfContextMap();
        setMdc(mdc);
        try {
            if (snapshot != null) {
                Snapshots.run(snapshot, body);
            } else {
                body.run();
            }
        } finally {
            setMdc(previous);
        }
    }

    /** {@code task} wrapped to run with the context captured now. */
    static Runnable wrap(Runnable task) {
        CapturedContext c = capture();
        return () -> c.run(task);
    }

    private static void setMdc(Map<String, String> m) {
        if (m == null || m.isEmpty()) {
            MDC.clear();
        } else {
            MDC.setContextMap(m);
        }
    }

    /** Touches context-propagation's classes only when it is present. */
    private static final class Snapshots {
        private static final ContextSnapshotFactory FACTORY = ContextSnapshotFactory.builder().build();

        static Object capture() {
            return FACTORY.captureAll();
        }

        static void run(Object snapshot, Runnable body) {
            try (ContextSnapshot.Scope scope = ((ContextSnapshot) snapshot).setThreadLocals()) {
                body.run();
            }
        }
    }
}
