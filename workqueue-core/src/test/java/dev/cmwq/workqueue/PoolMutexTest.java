package dev.cmwq.workqueue;

import static dev.cmwq.workqueue.TestWaits.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * The pool lock's mutex ({@link WorkerPool.PoolMutex}): {@code ReentrantLock}'s semantics with the
 * holder kept as a thread id. Mutual exclusion, reentrancy, and a release by a thread that does not
 * hold it refused without changing anything.
 */
class PoolMutexTest {

    @Test
    void itIsReentrantAndCountsHolds() {
        WorkerPool.PoolMutex m = new WorkerPool.PoolMutex();
        assertThat(m.isLocked()).isFalse();
        assertThat(m.holdCount()).isZero();
        m.lock();
        m.lock();
        assertThat(m.tryAcquire(1)).isTrue();
        assertThat(m.holdCount()).isEqualTo(3);
        m.release(1);
        m.release(1);
        assertThat(m.isLocked()).isTrue();
        m.release(1);
        assertThat(m.isLocked()).isFalse();
        assertThat(m.holdCount()).isZero();
    }

    @Test
    void anotherThreadCannotTakeItNorReleaseIt() throws Exception {
        WorkerPool.PoolMutex m = new WorkerPool.PoolMutex();
        m.lock();
        AtomicBoolean tried = new AtomicBoolean(true);
        AtomicReference<Throwable> releaseFailure = new AtomicReference<>();
        AtomicInteger holdsSeen = new AtomicInteger(-1);
        Thread other = new Thread(() -> {
            tried.set(m.tryAcquire(1));
            holdsSeen.set(m.holdCount());
            try {
                m.release(1);
            } catch (Throwable t) {
                releaseFailure.set(t);
            }
        });
        other.start();
        other.join(LONG.toMillis());
        assertThat(tried).as("tryAcquire by a thread that does not hold it").isFalse();
        assertThat(holdsSeen).hasValue(0);
        assertThat(releaseFailure.get()).isInstanceOf(IllegalMonitorStateException.class)
                .hasMessageContaining("does not hold it");
        // nothing changed: still held once, by this thread
        assertThat(m.holdCount()).isEqualTo(1);
        m.release(1);
        assertThat(m.isLocked()).isFalse();
        assertThatThrownBy(() -> m.release(1)).isInstanceOf(IllegalMonitorStateException.class);
        assertThat(m.isLocked()).isFalse();
    }

    @Test
    void aContendedAcquirerParksUntilTheHolderLetsGo() throws Exception {
        WorkerPool.PoolMutex m = new WorkerPool.PoolMutex();
        m.lock();
        CountDownLatch got = new CountDownLatch(1);
        Thread waiter = new Thread(() -> {
            m.lock();
            got.countDown();
            m.release(1);
        });
        waiter.start();
        await().until(() -> m.isQueued(waiter));
        assertThat(got.getCount()).as("the waiter got a lock that was held").isOne();
        m.release(1);
        await(got);
        waiter.join(LONG.toMillis());
        assertThat(m.isLocked()).isFalse();
    }

    /** Four threads add to a plain counter under the mutex, reentering it on every other add. */
    @Test
    void itExcludesUnderContention() throws Exception {
        WorkerPool.PoolMutex m = new WorkerPool.PoolMutex();
        int threads = 4;
        int adds = 50_000;
        long[] counter = new long[1];
        CyclicBarrier start = new CyclicBarrier(threads);
        Thread[] ts = new Thread[threads];
        AtomicReference<Throwable> failure = new AtomicReference<>();
        for (int t = 0; t < threads; t++) {
            ts[t] = new Thread(() -> {
                try {
                    start.await();
                    for (int i = 0; i < adds; i++) {
                        m.lock();
                        try {
                            if ((i & 1) == 0) {
                                m.lock();
                                counter[0]++;
                                m.release(1);
                            } else {
                                counter[0]++;
                            }
                        } finally {
                            m.release(1);
                        }
                    }
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            });
            ts[t].start();
        }
        for (Thread t : ts) {
            t.join(LONG.toMillis() * 4);
            assertThat(t.isAlive()).as("adder finished").isFalse();
        }
        assertThat(failure.get()).isNull();
        m.lock();
        try {
            assertThat(counter[0]).isEqualTo((long) threads * adds);
        } finally {
            m.release(1);
        }
    }
}
