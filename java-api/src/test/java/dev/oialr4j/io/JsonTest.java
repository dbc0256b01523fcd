package dev.oialr4j.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The JSON reader against hand-written documents and against the writer. */
class JsonTest {

    @Test
    void parsesEveryKindOfValue() {
        Object v = Json.parse(" {\"a\": [1, -2.5e3, true, false, null], \"b\": {\"c\": \"x\\\"\\\\\\n\\u00e9\"},"
                + " \"big\": 9007199254740993, \"e\": {}, \"l\": []} ");
        Map<String, Object> want = new LinkedHashMap<>();
        want.put("a", Arrays.asList(1L, -2500.0, true, false, null));
        want.put("b", Map.of("c", "x\"\\\né"));
        want.put("big", 9007199254740993L);
        want.put("e", Map.of());
        want.put("l", List.of());
        assertEquals(want, v);
        assertEquals(List.of("a", "b", "big", "e", "l"), new ArrayList<>(((Map<?, ?>) v).keySet()));
    }

    @Test
    void readsBackWhatTheWriterWrites() {
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("pi", Math.PI);
        doc.put("tiny", 1.234e-300);
        doc.put("n", 12345678901L);
        doc.put("s", "tab\tquote\"");
        doc.put("dims", new int[] {3, 4});
        Map<String, Object> back = Json.parseObject(Json.write(doc));
        assertEquals(Math.PI, (Double) back.get("pi"));
        assertEquals(1.234e-300, (Double) back.get("tiny"));
        assertEquals(12345678901L, back.get("n"));
        assertEquals("tab\tquote\"", back.get("s"));
        assertEquals(List.of(3L, 4L), back.get("dims"));
    }

    @Test
    void malformedDocumentsNameTheOffset() {
        for (String bad : List.of("", "{", "{\"a\" 1}", "[1,]", "{\"a\":1,\"a\":2}", "tru", "\"x", "1 2", "{\"a\":-}",
                "\"\\q\"")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Json.parse(bad), bad);
            assertTrue(e.getMessage().startsWith("bad JSON at offset "), e.getMessage());
        }
    }
}
