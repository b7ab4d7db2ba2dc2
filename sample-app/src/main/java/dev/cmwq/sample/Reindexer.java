package dev.cmwq.sample;

import dev.cmwq.workqueue.spring.WorkItem;
import java.time.Instant;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.springframework.stereotype.Service;

/**
 * A debounced re-index: each edit calls {@link #reindex()}, which moves the item's timer
 * ({@code mod_delayed_work}); the index is rebuilt once, {@code sample.reindex-delay} after the
 * last edit of a burst.
 */
@Service
public class Reindexer {

    private final AtomicInteger runs = new AtomicInteger();
    private final AtomicReference<Instant> lastRun = new AtomicReference<>();

    @WorkItem(queue = "system_unbound_wq", delay = "${sample.reindex-delay}", debounce = true)
    public void reindex() {
        runs.incrementAndGet();
        lastRun.set(Instant.now());
    }

    public int runs() {
        return runs.get();
    }

    public Instant lastRun() {
        return lastRun.get();
    }
}
