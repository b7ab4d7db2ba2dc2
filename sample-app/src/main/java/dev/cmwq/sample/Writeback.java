package dev.cmwq.sample;

import dev.cmwq.workqueue.spring.WorkItem;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;
import org.springframework.stereotype.Service;

/**
 * Dirty pages flushed on the {@code writeback} queue: unbound, MEM_RECLAIM (a rescuer guarantees
 * progress when no worker can be created) and SYSFS, so its max_active, nice and cpumask can be
 * changed at run time with {@code POST /actuator/workqueues/writeback}. One item per page: a page
 * dirtied again while its flush is pending is flushed once.
 */
@Service("pageWriteback") // the bean "writeback" is the workqueue itself
public class Writeback {

    private final SampleProperties props;
    private final AtomicInteger flushed = new AtomicInteger();

    public Writeback(SampleProperties props) throws IOException {
        this.props = props;
        Files.createDirectories(props.writebackDir());
    }

    @WorkItem(queue = "writeback")
    public boolean flush(int page) {
        try {
            Path file = props.writebackDir().resolve("page-" + page);
            Files.writeString(file, "page " + page + " flushed\n");
            flushed.incrementAndGet();
            return true;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public int flushed() {
        return flushed.get();
    }
}
