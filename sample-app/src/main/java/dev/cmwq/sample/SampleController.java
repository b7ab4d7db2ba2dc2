package dev.cmwq.sample;

import dev.cmwq.workqueue.Workqueues;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;

/** The sample's API: each endpoint exercises one capability and answers with what happened. */
@RestController
@RequestMapping("/api")
public class SampleController {

    private final Workqueues engine;
    private final DownstreamClient downstream;
    private final SlowDownstream slow;
    private final AuditLog audit;
    private final CacheRefresher cache;
    private final Reindexer reindexer;
    private final Writeback writeback;

    public SampleController(Workqueues engine, DownstreamClient downstream, SlowDownstream slow, AuditLog audit,
                            CacheRefresher cache, Reindexer reindexer, Writeback writeback) {
        this.engine = engine;
        this.downstream = downstream;
        this.slow = slow;
        this.audit = audit;
        this.cache = cache;
        this.reindexer = reindexer;
        this.writeback = writeback;
    }

    /**
     * Fetches {@code count} items from the slow downstream, each a work item on the bound
     * {@code downstream} queue, and waits for all: the elapsed time shows how many ran at once.
     */
    @PostMapping("/fetch")
    public Map<String, Object> fetch(@RequestParam(defaultValue = "20") int count) throws Exception {
        if (count < 1 || count > 1000) {
            throw new IllegalArgumentException("count " + count + " out of range; allowed 1..1000");
        }
        long t0 = System.nanoTime();
        List<CompletableFuture<String>> futures = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            futures.add(downstream.fetch(i));
        }
        CompletableFuture.allOf(futures.toArray(CompletableFuture[]::new)).join();
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("fetched", futures.size());
        out.put("first", futures.getFirst().join());
        out.put("elapsedMs", (System.nanoTime() - t0) / 1_000_000);
        out.put("downstreamMaxInFlight", slow.maxInFlight());
        out.put("workerThreads", engine.workerThreads());
        return out;
    }

    /** Appends events to the audit log through the ordered queue; returns their sequence numbers. */
    @PostMapping("/audit")
    public Map<String, Object> audit(@RequestBody List<String> events) {
        List<Long> seq = new ArrayList<>();
        for (String e : events) {
            seq.add(audit.record(e));
        }
        return Map.of("recorded", seq);
    }

    @GetMapping("/audit")
    public Map<String, Object> auditLines() throws IOException {
        return Map.of("lines", audit.lines());
    }

    /** Triggers the cache refresh {@code times} times in a burst. */
    @PostMapping("/cache/refresh")
    public Map<String, Object> refresh(@RequestParam(defaultValue = "1") int times) throws InterruptedException {
        if (times < 1 || times > 100_000) {
            throw new IllegalArgumentException("times " + times + " out of range; allowed 1..100000");
        }
        int queued = 0;
        for (int i = 0; i < times; i++) {
            if (cache.refresh()) {
                queued++;
            }
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("triggers", times);
        out.put("queued", queued);
        out.put("absorbed", times - queued);
        return out;
    }

    @GetMapping("/cache")
    public Map<String, Object> cache() {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("refreshes", cache.refreshes());
        out.put("maxConcurrent", cache.maxConcurrent());
        out.put("lastRefresh", String.valueOf(cache.lastRefresh()));
        return out;
    }

    /** Records {@code edits} edits; each moves the re-index timer. */
    @PostMapping("/reindex")
    public Map<String, Object> reindex(@RequestParam(defaultValue = "1") int edits) {
        if (edits < 1 || edits > 100_000) {
            throw new IllegalArgumentException("edits " + edits + " out of range; allowed 1..100000");
        }
        for (int i = 0; i < edits; i++) {
            reindexer.reindex();
        }
        return Map.of("edits", edits, "runs", reindexer.runs());
    }

    @GetMapping("/reindex")
    public Map<String, Object> reindexStatus() {
        return Map.of("runs", reindexer.runs(), "lastRun", String.valueOf(reindexer.lastRun()));
    }

    /** Dirties {@code pages} pages (0..pages-1); each is flushed by the writeback queue. */
    @PostMapping("/writeback")
    public Map<String, Object> dirty(@RequestParam(defaultValue = "10") int pages) {
        if (pages < 1 || pages > 100_000) {
            throw new IllegalArgumentException("pages " + pages + " out of range; allowed 1..100000");
        }
        int queued = 0;
        for (int i = 0; i < pages; i++) {
            if (writeback.flush(i)) {
                queued++;
            }
        }
        return Map.of("dirtied", pages, "queued", queued);
    }

    @GetMapping("/writeback")
    public Map<String, Object> writebackStatus() {
        return Map.of("flushed", writeback.flushed());
    }
}
