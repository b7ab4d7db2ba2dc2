package dev.cmwq.workqueue;

import static dev.cmwq.workqueue.TestWaits.*;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.EnumSet;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The README's usage example, so that it keeps compiling and meaning what it says. */
class ReadmeExampleTest {
    @Test
    @Timeout(60)
    void readmeExample() throws Exception {
        CountDownLatch ran = new CountDownLatch(2); // flush once (absorbed second call) + refresh
        CountDownLatch release = new CountDownLatch(1);
        Workqueues wqs = Workqueues.builder().build();
        Workqueue writeback = wqs.alloc("writeback", EnumSet.of(WqFlag.UNBOUND, WqFlag.MEM_RECLAIM), 8);
        Workqueue audit = wqs.allocOrdered("audit");
        assertThat(audit.isOrdered()).isTrue();

        // Fill writeback's 8 active slots so that flush provably stays pending.
        for (int i = 0; i < 8; i++) {
            writeback.queue(new Work("blocker-" + i, () -> await(release)));
        }
        Work flush = new Work("flush-dirty", ran::countDown);
        assertThat(writeback.queue(flush)).isTrue();
        assertThat(writeback.queue(flush)).isFalse();
        assertThat(flush.isPending()).isTrue();

        wqs.systemWq().queue(new Work("refresh", ran::countDown));

        CountDownLatch reindexed = new CountDownLatch(1);
        DelayedWork reindex = new DelayedWork("reindex", reindexed::countDown);
        assertThat(writeback.modDelayed(reindex, Duration.ofMillis(500))).isFalse(); // idle: queued
        assertThat(writeback.modDelayed(reindex, Duration.ofMillis(500))).isTrue();  // pending: timer moved

        // Release the blockers only once this thread waits inside flush(): it must find them in flight.
        Thread self = Thread.currentThread();
        Thread releaser = Thread.ofPlatform().start(() -> {
            org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(30))
                    .until(() -> self.getState() == Thread.State.WAITING);
            release.countDown();
        });
        assertThat(writeback.flush()).isTrue();
        releaser.join();
        assertThat(ran.await(30, TimeUnit.SECONDS)).isTrue();
        assertThat(flush.cancelSync()).isFalse();
        assertThat(flush.busy()).isZero();

        String body = Workqueues.blocking(() -> "response body");
        assertThat(body).isEqualTo("response body");
        assertThat(reindexed.await(30, TimeUnit.SECONDS)).isTrue();
        assertThat(wqs.shutdown(Duration.ofSeconds(30))).isTrue();
    }


    @Test
    @Timeout(60)
    void readmeAttributesExample() {
        try (Workqueues wqs = Workqueues.builder().cpus(2).build()) {
            Workqueue crypto = wqs.alloc("crypto", EnumSet.of(WqFlag.UNBOUND), 0,
                    new WorkqueueAttrs(5, CpuMask.parseList("0-1")));
            crypto.applyAttrs(crypto.attrs().withCpumask(CpuMask.parseList("1"))
                    .withAffinityScope(AffinityScope.CPU));
            assertThat(crypto.attrs()).isEqualTo(new WorkqueueAttrs(5, CpuMask.of(1), AffinityScope.CPU, false));
            assertThat(crypto.effectiveCpumask()).isEqualTo(CpuMask.of(1));
            wqs.setUnboundCpumask(CpuMask.parse("2"));
            assertThat(wqs.unboundCpumask()).isEqualTo(CpuMask.of(1));
            assertThat(wqs.systemUnboundWq().effectiveCpumask()).isEqualTo(CpuMask.of(1));
        }
    }
}
