package dev.cmwq.workqueue;

import static dev.cmwq.workqueue.TestWaits.LONG;
import static dev.cmwq.workqueue.TestWaits.awaitLatch;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ch.qos.logback.classic.Level;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * Shutdown lets running items finish their chains: follow-up items they queue (on any queue of the
 * engine) still run, the drain is repeated until nothing new arrives, and outside callers and
 * delayed follow-ups are refused. What could not finish is named.
 */
class ShutdownChainTest {

    private static Workqueues engine() {
        return Workqueues.builder().cpus(2).name("shutdown-chain").build();
    }

    @Test
    void followUpsQueuedByRunningItemsAcrossQueuesStillRun() throws Exception {
        Workqueues e = engine();
        Workqueue a = e.alloc("chain-a", 0, WqFlag.UNBOUND);
        Workqueue b = e.alloc("chain-b", 0);
        List<String> ran = new CopyOnWriteArrayList<>();
        CountDownLatch started = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        // step 1 on b (blocks until shutdown began) -> step 2 on a (already checked idle) -> step 3 on b
        Work step3 = new Work("step3", () -> ran.add("step3"));
        Work step2 = new Work("step2", () -> {
            ran.add("step2");
            assertThat(b.queue(step3)).isTrue();
        });
        b.queue(new Work("step1", () -> {
            started.countDown();
            awaitLatch(release);
            ran.add("step1");
            assertThat(a.queue(step2)).isTrue();
        }));
        awaitLatch(started);
        AtomicReference<Boolean> result = new AtomicReference<>();
        Thread closer = new Thread(() -> result.set(e.shutdown(LONG)));
        closer.start();
        TestWaits.await().until(e::isShutdown);
        Work outsider = new Work("outsider", () -> ran.add("outsider"));
        assertThatThrownBy(() -> a.queue(outsider)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("shut down").hasMessageContaining("outsider");
        release.countDown();
        closer.join(LONG.toMillis());
        assertThat(result.get()).as("shutdown finished every item").isTrue();
        assertThat(ran).containsExactly("step1", "step2", "step3");
    }

    @Test
    void delayedFollowUpsAreRefusedAndArmedTimersFireAtOnce() throws Exception {
        Workqueues e = engine();
        Workqueue q = e.alloc("delays", 0);
        List<String> ran = new CopyOnWriteArrayList<>();
        AtomicReference<Throwable> refusal = new AtomicReference<>();
        CountDownLatch started = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        q.queueDelayed(new DelayedWork("armed-before", () -> ran.add("armed-before")), Duration.ofHours(1));
        q.queue(new Work("rearming", () -> {
            started.countDown();
            awaitLatch(release);
            try {
                q.queueDelayed(new DelayedWork("later", () -> ran.add("later")), Duration.ofHours(1));
            } catch (IllegalStateException ex) {
                refusal.set(ex);
            }
        }));
        awaitLatch(started);
        AtomicReference<Boolean> result = new AtomicReference<>();
        Thread closer = new Thread(() -> result.set(e.shutdown(LONG)));
        closer.start();
        TestWaits.await().until(e::isShutdown);
        release.countDown();
        closer.join(LONG.toMillis());
        assertThat(result.get()).isTrue();
        assertThat(ran).containsExactly("armed-before");
        assertThat(refusal.get()).isInstanceOf(IllegalStateException.class).hasMessageContaining("later");
    }

    @Test
    void anItemThatKeepsRequeueingItselfIsNamedWhenTheTimeoutEnds() {
        try (WorkerLifecycleTest.LogCapture log = new WorkerLifecycleTest.LogCapture(Workqueues.class, null)) {
            Workqueues e = engine();
            Workqueue q = e.alloc("forever", 0);
            AtomicReference<Work> self = new AtomicReference<>();
            CountDownLatch ranOnce = new CountDownLatch(1);
            self.set(new Work("self-requeue", () -> {
                ranOnce.countDown();
                Thread.onSpinWait();
                q.queue(self.get());
            }));
            q.queue(self.get());
            awaitLatch(ranOnce);
            assertThat(e.shutdown(Duration.ofMillis(300))).isFalse();
            assertThat(log.messages(Level.WARN)).anyMatch(m -> m.contains("unfinished") && m.contains("self-requeue")
                    && m.contains("forever"));
        }
    }
}
