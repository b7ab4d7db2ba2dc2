package dev.cmwq.workqueue;

import static dev.cmwq.workqueue.TestWaits.*;
import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The young holders ({@link WorkerPool#YOUNG_HOLDER_RUNS}): a pool's worklist is replaced by a
 * fresh empty one, and a worker's current-item holder by a fresh one, every few thousand items.
 * Across the replacements every item runs exactly once, and a running item is its worker's
 * {@code currentWork()} with its own pool workqueue as {@code currentPwq()}.
 */
@Timeout(120)
class YoungHoldersTest {

    private static Workqueues engine() {
        return Workqueues.builder().cpus(1).monitorInterval(Duration.ZERO).name("young").build();
    }

    @Test
    void aBoundPoolRunsEveryItemAcrossRenewals() {
        try (Workqueues e = engine()) {
            Workqueue q = e.alloc("young-bound", 0);
            runAcrossRenewals(q, w -> q.queueOn(0, w));
        }
    }

    @Test
    void anUnboundPoolRunsEveryItemAcrossRenewals() {
        try (Workqueues e = engine()) {
            Workqueue q = e.alloc("young-unbound", 0, WqFlag.UNBOUND);
            runAcrossRenewals(q, q::queue);
        }
    }

    /**
     * Three renewals' worth of items in batches (a worklist is renewed only when it is empty, which
     * the wait after each batch makes sure of), each item checking what its worker says it runs.
     */
    private static void runAcrossRenewals(Workqueue q, java.util.function.Predicate<Work> queue) {
        int n = 3 * WorkerPool.YOUNG_HOLDER_RUNS;
        int batch = 256;
        AtomicInteger ran = new AtomicInteger();
        List<String> wrong = new CopyOnWriteArrayList<>();
        Set<WorkList> worklists = ConcurrentHashMap.newKeySet();
        for (int b = 0; b < n; b += batch) {
            CountDownLatch done = new CountDownLatch(batch);
            for (int i = 0; i < batch; i++) {
                int id = b + i;
                Work[] self = new Work[1];
                self[0] = new Work("item-" + id, () -> {
                    Worker me = Worker.CURRENT.get();
                    if (me.currentWork() != self[0]) {
                        wrong.add("item " + id + ": currentWork() was " + me.currentWork());
                    }
                    PoolWorkqueue pwq = me.currentPwq();
                    if (pwq == null || pwq.wq != q || pwq != self[0].pwq) {
                        wrong.add("item " + id + ": currentPwq() was " + pwq);
                    }
                    me.pool.lock.lock();
                    try {
                        worklists.add(me.pool.worklist);
                    } finally {
                        me.pool.lock.unlock();
                    }
                    ran.incrementAndGet();
                    done.countDown();
                });
                assertThat(queue.test(self[0])).as("item %d queued", id).isTrue();
            }
            await(done);
        }
        assertThat(wrong).isEmpty();
        assertThat(ran).hasValue(n);
        assertThat(worklists).as("the pool's worklist was renewed").hasSizeGreaterThan(1);
    }
}
