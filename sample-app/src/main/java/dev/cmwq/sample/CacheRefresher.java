package dev.cmwq.sample;

import dev.cmwq.workqueue.spring.WorkItem;
import java.time.Instant;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.springframework.stereotype.Service;

/**
 * A cache refresh: a no-argument work item, so every trigger while one is pending is absorbed,
 * and one that comes while it runs makes it run once more, never twice at once. A burst of a
 * hundred triggers costs one or two refreshes.
 */
@Service
public class CacheRefresher {

    private final SampleProperties props;
    private final AtomicInteger refreshes = new AtomicInteger();
    private final AtomicInteger concurrent = new AtomicInteger();
    private final AtomicInteger maxConcurrent = new AtomicInteger();
    private final AtomicReference<Instant> lastRefresh = new AtomicReference<>();

    public CacheRefresher(SampleProperties props) {
        this.props = props;
    }

    /** True if a refresh was queued, false if absorbed into the pending one. */
    @WorkItem(queue = "system_wq")
    public boolean refresh() throws InterruptedException {
        maxConcurrent.accumulateAndGet(concurrent.incrementAndGet(), Math::max);
        try {
            Thread.sleep(props.refreshCost().toMillis()); // reload from the source of truth
            refreshes.incrementAndGet();
            lastRefresh.set(Instant.now());
        } finally {
            concurrent.decrementAndGet();
        }
        return true;
    }

    public int refreshes() {
        return refreshes.get();
    }

    public int maxConcurrent() {
        return maxConcurrent.get();
    }

    public Instant lastRefresh() {
        return lastRefresh.get();
    }
}
