package dev.cmwq.workqueue.spring;

import dev.cmwq.workqueue.Workqueues;
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.DisposableBean;
import org.springframework.context.ApplicationContext;
import org.springframework.context.ApplicationContextAware;
import org.springframework.context.ApplicationListener;
import org.springframework.context.SmartLifecycle;
import org.springframework.context.event.ContextClosedEvent;

/**
 * The engine in the context's lifecycle.
 * <ul>
 * <li>{@code stop()} (the context is stopped, or paused for a restart): freezes the FREEZABLE
 * queues as the kernel does for suspend; their items stay queued, running ones finish (waited for
 * up to the shutdown-phase timeout). {@code start()} thaws them.</li>
 * <li>Context close: drains the engine within {@code spring.lifecycle.timeout-per-shutdown-phase}.
 * New items from outside are refused at once (the caller gets an exception: nothing is dropped
 * silently); armed delayed items fire now; running items may still queue follow-ups. Whatever
 * could not finish in time is named, item by item, in the log.</li>
 * </ul>
 * A context that was stopped before it is closed gets no second {@code stop()}: the drain then
 * runs when this bean is destroyed, with the same timeout. The engine bean has no destroy method
 * of its own.
 *
 * <p>Its phase ({@link #PHASE}) is below the web server's graceful shutdown and stop, so requests
 * that are still being served can queue work that is then drained.
 *
 * <p>{@code running} and {@code closing} are volatile: start/stop are called by the context's
 * lifecycle processor and the closed event by the closing thread.
 */
public class WorkqueuesLifecycle implements SmartLifecycle, ApplicationListener<ContextClosedEvent>, ApplicationContextAware,
        DisposableBean {

    /** Stops after the web server's graceful shutdown ({@code DEFAULT_PHASE - 1024}) and stop ({@code - 2048}). */
    public static final int PHASE = SmartLifecycle.DEFAULT_PHASE - 3072;

    private static final Logger log = LoggerFactory.getLogger(WorkqueuesLifecycle.class);

    private final Workqueues engine;
    private final Duration timeout;
    private ApplicationContext context;
    private volatile boolean running;
    private volatile boolean closing;

    public WorkqueuesLifecycle(Workqueues engine, Duration timeout) {
        this.engine = engine;
        this.timeout = timeout;
    }

    @Override
    public void setApplicationContext(ApplicationContext applicationContext) {
        this.context = applicationContext;
    }

    @Override
    public void onApplicationEvent(ContextClosedEvent event) {
        if (event.getApplicationContext() == context) { // not a child context's close
            closing = true;
        }
    }

    @Override
    public void start() {
        if (engine.isFrozen()) {
            engine.thaw();
            log.info("workqueue: thawed the freezable workqueues of engine '{}'", engine.name());
        }
        running = true;
    }

    @Override
    public void stop() {
        running = false;
        if (closing) {
            drain();
        } else {
            freeze();
        }
    }

    private void drain() {
        long t0 = System.nanoTime();
        boolean complete = engine.shutdown(timeout);
        long ms = (System.nanoTime() - t0) / 1_000_000;
        if (complete) {
            log.info("workqueue: engine '{}' drained and stopped in {} ms", engine.name(), ms);
        } else {
            log.warn("workqueue: engine '{}' did not drain within {} (spring.lifecycle.timeout-per-shutdown-phase); "
                    + "the items it could not finish are listed above", engine.name(), timeout);
        }
    }

    private void freeze() {
        engine.freeze();
        try {
            if (!engine.awaitFrozenIdle(timeout)) {
                log.warn("workqueue: freezable workqueues of engine '{}' still run items after {}:\n{}", engine.name(), timeout,
                        engine.dump());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        log.info("workqueue: froze the freezable workqueues of engine '{}'", engine.name());
    }

    /** Context close after {@code stop()} (or without a lifecycle stop at all): drain now. */
    @Override
    public void destroy() {
        if (!engine.isShutdown()) {
            drain();
        }
    }

    @Override
    public boolean isRunning() {
        return running;
    }

    @Override
    public int getPhase() {
        return PHASE;
    }
}
