package dev.cmwq.sample;

import dev.cmwq.workqueue.spring.WorkItem;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.springframework.context.annotation.Lazy;
import org.springframework.stereotype.Service;

/**
 * An audit log written through the ordered {@code audit} queue: one line at a time, in the order
 * the calls were made, to a real file. {@code coalesce = false}: two equal lines are two entries.
 */
@Service
public class AuditLog {

    private final SampleProperties props;
    private final AtomicLong seq = new AtomicLong();
    /** This bean's proxy: a call through {@code this} would run at once, in the caller, unqueued. */
    private final AuditLog self;

    public AuditLog(SampleProperties props, @Lazy AuditLog self) throws IOException {
        this.props = props;
        this.self = self;
        Files.createDirectories(props.auditFile().toAbsolutePath().getParent());
        Files.deleteIfExists(props.auditFile());
    }

    /**
     * Numbers the event now (in call order) and queues the write, through the proxy so that it
     * goes on the ordered queue; synchronized so that numbers are queued in the order given.
     */
    public synchronized long record(String event) {
        long n = seq.incrementAndGet();
        self.append(n, event);
        return n;
    }

    @WorkItem(queue = "audit", coalesce = false)
    public void append(long n, String event) {
        try {
            Files.writeString(props.auditFile(), n + " " + event + "\n", StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public List<String> lines() throws IOException {
        return Files.exists(props.auditFile()) ? Files.readAllLines(props.auditFile()) : List.of();
    }
}
