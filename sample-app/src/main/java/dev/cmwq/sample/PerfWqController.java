package dev.cmwq.sample;

import java.util.LinkedHashMap;
import java.util.Map;
import org.springframework.http.HttpStatus;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.ExceptionHandler;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.ResponseStatus;
import org.springframework.web.bind.annotation.RestController;

/**
 * The 2010 perf-wq workloads on demand (docs/sample-app.md, "perf-wq"):
 * {@code POST /api/load?workload=0..5&seconds=1..300&burn=L|S} starts a run,
 * {@code GET /api/load} shows the current or last one.
 */
@RestController
@RequestMapping("/api/load")
public class PerfWqController {

    private final PerfWq perf;

    public PerfWqController(PerfWq perf) {
        this.perf = perf;
    }

    @PostMapping
    public ResponseEntity<Map<String, Object>> start(@RequestParam(defaultValue = "0") String workload,
                                                     @RequestParam(defaultValue = "10") String seconds,
                                                     @RequestParam(defaultValue = "L") String burn) {
        int wl = parse("workload", workload, "0.." + (PerfWq.WORKLOADS - 1));
        int dur = parse("seconds", seconds, "1.." + PerfWq.MAX_TEST_SECS);
        PerfWq.Burn b = PerfWq.parseBurn(burn);
        PerfWq.Run run = perf.start(wl, dur, b);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("id", run.id);
        out.put("workload", wl);
        out.put("seconds", dur);
        out.put("burn", b.name());
        out.put("plan", PerfWq.plan(wl, dur, b));
        out.put("status", "/api/load");
        return ResponseEntity.status(HttpStatus.ACCEPTED).body(out);
    }

    @GetMapping
    public Map<String, Object> status() {
        PerfWq.Run run = perf.last();
        if (run == null) {
            return Map.of("state", "none", "hint", "POST /api/load?workload=0..5&seconds=1..300&burn=L|S");
        }
        return perf.describe(run);
    }

    @ExceptionHandler(PerfWq.BusyException.class)
    @ResponseStatus(HttpStatus.CONFLICT)
    public Map<String, String> busy(PerfWq.BusyException e) {
        return Map.of("error", e.getMessage());
    }

    private static int parse(String what, String value, String allowed) {
        try {
            return Integer.parseInt(value.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(what + " '" + value + "' is not a number; allowed " + allowed);
        }
    }
}
