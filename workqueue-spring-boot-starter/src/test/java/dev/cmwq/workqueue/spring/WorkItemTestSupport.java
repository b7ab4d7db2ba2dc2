package dev.cmwq.workqueue.spring;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.awaitility.Awaitility;
import org.awaitility.core.ConditionFactory;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.context.ApplicationContext;

/**
 * Shared pieces of the {@link WorkItem} tests: a runner with the auto-configuration and two
 * application queues, generous waits, and a {@link Blocker} that holds the ordered queue
 * {@code serial} so that items queued behind it stay pending.
 */
final class WorkItemTestSupport {

    /** Every wait in these tests: machines are small and noisy, so waits are generous and never an assertion. */
    static final Duration PATIENCE = Duration.ofSeconds(30);

    private WorkItemTestSupport() {
    }

    /**
     * The auto-configuration with {@code serial} (ordered: one item at a time, in queueing order)
     * and {@code parallel} (unbound, max-active 8: items of different keys may overlap).
     */
    static ApplicationContextRunner runner() {
        return new ApplicationContextRunner()
                .withConfiguration(AutoConfigurations.of(WorkqueueAutoConfiguration.class))
                .withPropertyValues("workqueue.cpus=2", "spring.lifecycle.timeout-per-shutdown-phase=5s",
                        "workqueue.queues.serial.ordered=true",
                        "workqueue.queues.parallel.flags=unbound", "workqueue.queues.parallel.max-active=8");
    }

    static ConditionFactory eventually() {
        return Awaitility.await().atMost(PATIENCE).pollDelay(Duration.ZERO).pollInterval(Duration.ofMillis(5));
    }

    /** The interceptor's count of live (pending, armed or running) coalescing items. */
    static int liveItems(ApplicationContext ctx) {
        return ctx.getBean(WorkItemAnnotationBeanPostProcessor.class).interceptor().liveItems();
    }

    /** Waits (inside a work item or a test) for {@code latch}; failing loudly rather than hanging. */
    static void await(CountDownLatch latch) {
        try {
            if (!latch.await(PATIENCE.toSeconds(), TimeUnit.SECONDS)) {
                throw new IllegalStateException("latch not released within " + PATIENCE);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    /**
     * Occupies the ordered queue {@code serial}: {@link #hold()} runs until {@link #release()}, so
     * every item queued on {@code serial} meanwhile stays pending. One use per context.
     */
    static class Blocker {
        private final CountDownLatch held = new CountDownLatch(1);
        private final CountDownLatch release = new CountDownLatch(1);

        @WorkItem(queue = "serial")
        public void hold() {
            held.countDown();
            WorkItemTestSupport.await(release);
        }

        /** Returns once {@link #hold()} runs (so the queue is busy). */
        public void awaitHeld() {
            WorkItemTestSupport.await(held);
        }

        public void release() {
            release.countDown();
        }
    }
}
