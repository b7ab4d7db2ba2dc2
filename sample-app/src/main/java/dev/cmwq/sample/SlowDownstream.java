package dev.cmwq.sample;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import org.springframework.beans.factory.DisposableBean;
import org.springframework.stereotype.Component;

/**
 * A real slow service on loopback, started with the app: every request to {@code /item/{id}}
 * waits {@code sample.downstream-delay} and answers {@code item <id>}. It stands for the database
 * or remote API a real service calls; it serves each request on its own virtual thread, so it is
 * never the bottleneck.
 */
@Component
public class SlowDownstream implements DisposableBean {

    private final HttpServer server;
    private final AtomicInteger inFlight = new AtomicInteger();
    private final AtomicInteger maxInFlight = new AtomicInteger();

    public SlowDownstream(SampleProperties props) throws IOException {
        long delayMs = props.downstreamDelay().toMillis();
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 256);
        server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        server.createContext("/item/", exchange -> {
            int now = inFlight.incrementAndGet();
            maxInFlight.accumulateAndGet(now, Math::max);
            try {
                Thread.sleep(delayMs);
                String id = exchange.getRequestURI().getPath().substring("/item/".length());
                byte[] body = ("item " + id).getBytes(StandardCharsets.UTF_8);
                exchange.sendResponseHeaders(200, body.length);
                try (OutputStream out = exchange.getResponseBody()) {
                    out.write(body);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                exchange.sendResponseHeaders(503, -1);
            } finally {
                inFlight.decrementAndGet();
                exchange.close();
            }
        });
        server.start();
    }

    public URI uri(int id) {
        return URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/item/" + id);
    }

    /** The most requests it had in flight at once since start. */
    public int maxInFlight() {
        return maxInFlight.get();
    }

    @Override
    public void destroy() {
        server.stop(0);
    }
}
