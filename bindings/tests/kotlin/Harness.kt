// A tiny test runner: plain `main`, no JUnit, so the tests need only the
// Kotlin stdlib, JNA and the generated bindings on the class path.

package egocap.tests

class AssertionFailed(message: String) : Exception(message)

fun check(condition: Boolean, message: () -> String) {
    if (!condition) throw AssertionFailed(message())
}

fun <T> checkEquals(expected: T, actual: T, what: String) {
    if (expected != actual) throw AssertionFailed("$what: expected $expected, got $actual")
}

inline fun <reified E : Throwable> assertThrows(what: String, block: () -> Unit): E {
    try {
        block()
    } catch (e: Throwable) {
        if (e is E) return e
        throw AssertionFailed("$what: expected ${E::class.simpleName}, got ${e::class.qualifiedName}: ${e.message}")
    }
    throw AssertionFailed("$what: expected ${E::class.simpleName}, nothing was thrown")
}

class TestRun {
    private var passed = 0
    private var failed = 0
    /** `-Degocap.only=part_of_a_name` runs only the tests whose names contain it. */
    private val only: String? = System.getProperty("egocap.only")

    /**
     * Runs [body] on its own daemon thread: a test that does not finish
     * within [timeoutSeconds] (a hang in stop(), say) fails, and the run
     * goes on; exitProcess at the end leaves the stuck thread behind.
     */
    fun test(name: String, timeoutSeconds: Long = 120, body: () -> Unit) {
        if (only != null && !name.contains(only)) return
        val started = System.nanoTime()
        try {
            var failure: Throwable? = null
            val thread = Thread { try { body() } catch (e: Throwable) { failure = e } }
            thread.isDaemon = true
            thread.start()
            thread.join(timeoutSeconds * 1000)
            if (thread.isAlive) throw AssertionFailed("timed out after $timeoutSeconds s")
            failure?.let { throw it }
            passed++
            println("ok   $name (${(System.nanoTime() - started) / 1_000_000} ms)")
        } catch (e: Throwable) {
            failed++
            println("FAIL $name: ${e::class.simpleName}: ${e.message}")
            e.printStackTrace(System.out)
        }
    }

    /** Prints the summary line and returns the process exit code. */
    fun finish(): Int {
        println("$passed passed, $failed failed")
        return if (failed == 0 && passed > 0) 0 else 1
    }
}

/**
 * A file the test run hands over as a system property (bindings/run-tests.sh
 * passes `-Degocap.faceModel=…` and `-Degocap.testFaces=…`).
 */
fun testInput(property: String): java.io.File {
    val path = System.getProperty(property)
        ?: throw AssertionFailed("system property $property is not set: run the tests with bindings/run-tests.sh")
    val file = java.io.File(path)
    check(file.exists()) { "$property: $path does not exist (bindings/run-tests.sh fetches it)" }
    return file
}
