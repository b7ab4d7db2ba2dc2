package dev.cmwq.workqueue;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import org.awaitility.Awaitility;
import org.awaitility.core.ConditionFactory;

/**
 * The waits every test uses: bounded, generous (the machines are 2 shared cores), and never a bare
 * sleep. Items may block with {@link #plainWait} (the pool is not told: with the monitor off the
 * worker still counts as running) or {@link #hookWait} (the explicit blocking hook: it counts as
 * sleeping at once).
 */
final class TestWaits {
    static final Duration LONG = Duration.ofSeconds(30);

    private TestWaits() {
    }

    /** Awaitility with the suite's limits. */
    static ConditionFactory await() {
        return Awaitility.await().atMost(LONG).pollInterval(Duration.ofMillis(5));
    }

    /** Fails the test unless {@code l} reaches zero within 30 s. */
    static void await(CountDownLatch l) {
        try {
            assertThat(l.await(30, SECONDS)).as("latch reached zero in time").isTrue();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    static void awaitLatch(CountDownLatch l) {
        await(l);
    }

    /** Blocks a work item without telling its pool; gives up after 60 s so nothing hangs. */
    static void plainWait(CountDownLatch l) {
        try {
            if (!l.await(60, SECONDS)) {
                throw new IllegalStateException("never released");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** Blocks a work item inside the explicit blocking hook: the worker counts as sleeping. */
    static void hookWait(CountDownLatch l) {
        Workqueues.blocking(() -> plainWait(l));
    }
}
