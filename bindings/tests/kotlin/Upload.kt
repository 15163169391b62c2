// The upload queue from Kotlin: a local inbox, and a tus 1.0 server held in
// memory behind a Kotlin HttpTransport (standing in for OkHttp) that fails
// on cue, checks credentials from a Kotlin AuthProvider, and can be slow
// enough to stop a run from another thread.

package egocap.tests

import java.io.ByteArrayOutputStream
import java.io.File
import java.io.IOException
import java.security.MessageDigest
import java.util.Base64
import java.util.Collections
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.atomic.AtomicInteger
import uniffi.egocap_ffi.*

fun uploadTests(run: TestRun) {
    run.test("upload_an_inbox_receives_every_session_file_byte_for_byte_records_first") { inboxReceivesEverything() }
    run.test("upload_a_sealed_recording_sent_to_an_inbox_verifies_there") { sealedRecordingVerifiesInInbox() }
    run.test("upload_local_copies_are_deleted_only_after_the_retention_period") { retentionDeletesLocalCopies() }
    run.test("upload_an_exception_in_the_listener_does_not_stop_the_upload") { throwingUploadListener() }
    run.test("upload_a_kotlin_transport_resumes_at_the_servers_offset_after_failures") { kotlinTransportResumes() }
    run.test("upload_a_refused_token_is_refreshed_once_then_the_run_is_unauthorized") { authRefresh() }
    run.test("upload_media_waits_for_an_allowed_network_and_records_do_not") { networkPolicy() }
    run.test("upload_stop_from_another_thread_ends_the_run_and_a_later_run_finishes") { stopFromAnotherThread() }
    run.test("upload_bad_journals_paths_and_settings_are_typed_exceptions") { typedUploadErrors() }
    run.test("upload_a_withdrawal_purges_the_unsent_segments_and_queues_its_records_first") { purgeAfterWithdrawal() }
}

// --- fixtures -------------------------------------------------------------

const val TUS_ENDPOINT = "https://tus.example/files/"

/** Short waits so failed requests are retried within milliseconds. */
fun quickRetries(chunkSize: UInt = 1000u) = UploadQueueConfig(chunkSize = chunkSize, backoffFirstMs = 10uL, backoffCapMs = 40uL)

/**
 * A sealed session as the recorder leaves it: a 32-hex-digit directory with
 * identity records, a segment record and its sealed medium (random bytes:
 * the queue sends files, it does not open them).
 */
fun fakeSealedSession(root: File, mediaBytes: Int = 4_500): File {
    val random = java.util.Random()
    val dir = File(root, (1..32).map { "0123456789abcdef"[random.nextInt(16)] }.joinToString(""))
    dir.mkdirs()
    val sizes = linkedMapOf("device.json" to 300, "consent.json" to 400, "seg-000000.record.json" to 500, "seg-000000.mp4.age" to mediaBytes)
    for ((name, size) in sizes) File(dir, name).writeBytes(ByteArray(size).also { random.nextBytes(it) })
    return dir
}

/** The upload order: identity records (by name), the segment record, then the medium. */
val SESSION_FILES = listOf("consent.json", "device.json", "seg-000000.record.json", "seg-000000.mp4.age")

fun journalIn(dir: String = tempDir()): String = File(dir, "upload-journal.db").path

fun sha256Hex(bytes: ByteArray): String = MessageDigest.getInstance("SHA-256").digest(bytes).joinToString("") { "%02x".format(it) }

fun List<HttpHeader>.named(name: String): String? = firstOrNull { it.name.equals(name, ignoreCase = true) }?.value

class CollectingUploadListener : UploadListener {
    val events: MutableList<UploadEvent> = Collections.synchronizedList(mutableListOf())
    override fun onUploadEvent(event: UploadEvent) {
        events.add(event)
    }
    fun completed(): List<String> = synchronized(events) { events.filterIsInstance<UploadEvent.Completed>().map { it.name } }
    fun retrying(): List<UploadEvent.Retrying> = synchronized(events) { events.filterIsInstance<UploadEvent.Retrying>() }
}

/** What the fake server does to one PATCH instead of answering it. */
enum class PatchFault {
    /** Keeps half the chunk, then the connection breaks (an IOException, as OkHttp throws). */
    LINK_DROPS_HALFWAY,
    /** Answers 503 and keeps nothing. */
    SERVER_UNAVAILABLE,
    /** Throws a JVM Error, which the generated code does not catch. */
    JVM_ERROR,
}

/**
 * A tus 1.0 server (core + creation) in memory, reached through this Kotlin
 * transport. Requests without `Tus-Resumable: 1.0.0` get 412; with
 * [requiredToken] set, requests without `Authorization: Bearer <token>` get 401.
 */
class FakeTusServer(@Volatile var requiredToken: String? = null) : HttpTransport {
    class Upload(val length: Long, val metadata: Map<String, String>) {
        val bytes = ByteArrayOutputStream()
    }

    val uploads = ConcurrentHashMap<String, Upload>()
    val requests: MutableList<HttpRequest> = Collections.synchronizedList(mutableListOf())
    /** Faults by the 1-based number of the PATCH request they hit. */
    val patchFaults = ConcurrentHashMap<Int, PatchFault>()
    val patches = AtomicInteger()
    @Volatile var delayMs = 0L

    override fun send(request: HttpRequest): HttpResponse {
        requests.add(request)
        if (delayMs > 0) Thread.sleep(delayMs)
        if (request.headers.named("Tus-Resumable") != "1.0.0") return response(412)
        requiredToken?.let { if (request.headers.named("Authorization") != "Bearer $it") return response(401) }
        return when (request.method) {
            "POST" -> create(request)
            "HEAD" -> uploads[request.url]?.let { response(200, "Upload-Offset" to "${it.bytes.size()}", "Upload-Length" to "${it.length}") }
                ?: response(404)
            "PATCH" -> append(request)
            else -> response(405)
        }
    }

    /** The uploaded files by name (the `filename` metadata). */
    fun files(): Map<String, ByteArray> = uploads.values.associate { it.metadata.getValue("filename") to it.bytes.toByteArray() }

    /** `Upload-Offset` of every PATCH to the upload named [name], in order. */
    fun patchOffsets(name: String): List<Long> {
        val url = uploads.entries.single { it.value.metadata["filename"] == name }.key
        return synchronized(requests) { requests.filter { it.method == "PATCH" && it.url == url } }
            .map { it.headers.named("Upload-Offset")!!.toLong() }
    }

    private fun create(request: HttpRequest): HttpResponse {
        val length = request.headers.named("Upload-Length")?.toLongOrNull() ?: return response(400)
        // tus 1.0 §5.1.3: comma-separated "key base64(value)" pairs.
        val metadata = request.headers.named("Upload-Metadata").orEmpty().split(",").filter { it.isNotBlank() }.associate {
            val (key, value) = it.trim().split(" ")
            key to String(Base64.getDecoder().decode(value))
        }
        val id = "${uploads.size + 1}-${System.nanoTime()}"
        uploads["https://tus.example/files/$id"] = Upload(length, metadata)
        return response(201, "Location" to "/files/$id")
    }

    private fun append(request: HttpRequest): HttpResponse {
        val upload = uploads[request.url] ?: return response(404)
        if (request.headers.named("Content-Type") != "application/offset+octet-stream") return response(415)
        if (request.headers.named("Upload-Offset")?.toLongOrNull() != upload.bytes.size().toLong()) return response(409)
        when (patchFaults[patches.incrementAndGet()]) {
            PatchFault.LINK_DROPS_HALFWAY -> {
                upload.bytes.write(request.body, 0, request.body.size / 2)
                throw IOException("link dropped halfway")
            }
            PatchFault.SERVER_UNAVAILABLE -> return response(503)
            PatchFault.JVM_ERROR -> throw AssertionError("the fake server's JVM error")
            null -> {}
        }
        if (upload.bytes.size() + request.body.size > upload.length) return response(413)
        upload.bytes.write(request.body)
        return response(204, "Upload-Offset" to "${upload.bytes.size()}")
    }

    private fun response(status: Int, vararg headers: Pair<String, String>) =
        HttpResponse(status.toUShort(), headers.map { (name, value) -> HttpHeader(name, value) } + HttpHeader("Tus-Resumable", "1.0.0"))
}

/** Hands out tokens in turn: `refresh` moves to the next (the last one stays). */
class TokenAuth(private val tokens: List<String>) : AuthProvider {
    private val index = AtomicInteger()
    val refreshes = AtomicInteger()
    @Volatile var failNextHeaders: Exception? = null

    override fun headers(): List<HttpHeader> {
        failNextHeaders?.let { failNextHeaders = null; throw it }
        return listOf(HttpHeader("Authorization", "Bearer ${tokens[minOf(index.get(), tokens.size - 1)]}"))
    }

    override fun refresh() {
        refreshes.incrementAndGet()
        index.incrementAndGet()
    }
}

/** The bytes of every file of [session] by its name at the target, `<session>/<file>`. */
fun sessionContents(session: File): Map<String, ByteArray> = SESSION_FILES.associate { "${session.name}/$it" to File(session, it).readBytes() }

/** Every file of [expected] must be in [received], byte for byte. */
fun checkReceived(expected: Map<String, ByteArray>, received: (String) -> ByteArray?) {
    for ((name, bytes) in expected) {
        val remote = received(name) ?: throw AssertionFailed("$name never arrived")
        check(remote.contentEquals(bytes)) { "$name differs from the local file (${remote.size} of ${bytes.size} bytes)" }
    }
}

fun checkReceived(session: File, received: (String) -> ByteArray?) = checkReceived(sessionContents(session), received)

fun checkAllComplete(queue: UploadQueue, count: Int) {
    val status = queue.status()
    checkEquals(count, status.size, "files in the journal")
    for (file in status) {
        checkEquals(UploadState.COMPLETE, file.state, "state of ${file.name}")
        checkEquals(file.size, file.acknowledged, "bytes acknowledged of ${file.name}")
        checkEquals(null, file.lastError, "last error of ${file.name}")
    }
}

// --- tests ----------------------------------------------------------------

fun inboxReceivesEverything() {
    val recordings = tempDir()
    val session = fakeSealedSession(File(recordings))
    val inbox = File(tempDir(), "inbox") // does not exist yet: the queue creates it
    val listener = CollectingUploadListener()
    val queue = UploadQueue.openInbox(journalIn(), inbox.path, UploadQueueConfig(chunkSize = 1000u))
    queue.setNetwork(NetworkState(NetworkKind.UNMETERED, false))
    queue.setListener(listener)
    checkEquals(4u, queue.enqueueSessions(recordings), "files queued")
    checkEquals(0u, queue.enqueueSessions(recordings), "files queued a second time")
    val queued = queue.status()
    checkEquals(SESSION_FILES.map { "${session.name}/$it" }, queued.map { it.name }, "upload order")
    checkEquals(listOf(Lane.IDENTITY, Lane.IDENTITY, Lane.SEGMENT_RECORD, Lane.MEDIA), queued.map { it.lane }, "lanes")
    checkEquals(SESSION_FILES.map { File(session, it).path }, queued.map { it.path }, "local paths")
    check(queued.all { it.state == UploadState.PENDING && it.acknowledged == 0uL }) { "not all pending: $queued" }

    checkEquals(RunOutcome.EMPTY, queue.runUntilEmpty(), "outcome")
    checkReceived(session) { File(inbox, it).takeIf(File::isFile)?.readBytes() }
    checkAllComplete(queue, 4)
    checkEquals(queued.map { it.name }, listener.completed(), "Completed events, records before media")
    val media = "${session.name}/seg-000000.mp4.age"
    val progress = synchronized(listener.events) { listener.events.filterIsInstance<UploadEvent.Progress>().filter { it.name == media } }
    checkEquals(listOf(1000uL, 2000uL, 3000uL, 4000uL, 4500uL), progress.map { it.acknowledged }, "media progress by chunk")
    // Kept on the device for the retention period (24 h by default).
    checkEquals(0u, queue.deleteExpired(), "files deleted")
    check(SESSION_FILES.all { File(session, it).isFile }) { "a local file was deleted before its retention ended" }
    checkEquals(RunOutcome.EMPTY, queue.runUntilEmpty(), "a second run")
    queue.close()
}

fun sealedRecordingVerifiesInInbox() {
    val owner = Owner()
    val device = FileKeyStore.ephemeral()
    val (session, summary) = recordSealed(sealing(device, owner, giveConsent(device, terms()).recordJson), 45)
    val dir = File(session.segmentDir())
    val inbox = File(tempDir(), "inbox")
    val queue = UploadQueue.openInbox(journalIn(), inbox.path, UploadQueueConfig())
    queue.setNetwork(NetworkState(NetworkKind.UNMETERED, false))
    val files = dir.list()!!.filter { !it.startsWith(".") }
    checkEquals(files.size.toUInt(), queue.enqueueSessions(dir.parent), "files queued (${files.sorted()})")
    checkEquals(RunOutcome.EMPTY, queue.runUntilEmpty(), "outcome")
    for (name in files) {
        check(File(inbox, "${dir.name}/$name").readBytes().contentEquals(File(dir, name).readBytes())) { "$name differs in the inbox" }
    }
    checkAllVerified(verifyDataset(File(inbox, dir.name).path, listOf(owner.identity.secretKey), owner.keyHex), summary)
    queue.close()
    session.close()
}

fun purgeAfterWithdrawal() {
    val owner = Owner()
    val device = FileKeyStore.ephemeral()
    val consent = giveConsent(device, terms())
    val (session, _) = recordSealed(sealing(device, owner, consent.recordJson), 45)
    val dir = File(session.segmentDir())
    val inbox = File(tempDir(), "inbox")
    val queue = UploadQueue.openInbox(journalIn(), inbox.path, UploadQueueConfig())
    queue.setNetwork(NetworkState(NetworkKind.UNMETERED, false))
    val withdrawal = withdrawConsent(device, consent.consentId)
    val purged = queue.purgeConsent(dir.parent, withdrawal, device)
    val segments = dir.list()!!.filter { it.startsWith("seg-") }
    check(purged.isNotEmpty() && purged.all { it.startsWith("${dir.name}/seg-") }) { "purged $purged" }
    check(segments.isEmpty()) { "segments left on the device: $segments" }
    val listener = CollectingUploadListener()
    queue.setListener(listener)
    checkEquals(RunOutcome.EMPTY, queue.runUntilEmpty(), "outcome")
    val records = File(inbox, "records").list()!!.toList()
    check(records.any { it.startsWith("withdrawal-") } && records.any { it.startsWith("purge-") }) { "records $records" }
    check(File(inbox, dir.name).list()!!.none { it.startsWith("seg-") }) { "purged footage reached the inbox" }
    // A foreign device's withdrawal purges nothing.
    val stranger = FileKeyStore.ephemeral()
    val foreign = withdrawConsent(stranger, consent.consentId)
    val refused = runCatching { queue.purgeConsent(dir.parent, foreign, device) }.exceptionOrNull()
    check(refused is EgocapException.InvalidRecord) { "a stranger's withdrawal gave $refused" }
    queue.close()
    session.close()
}

fun retentionDeletesLocalCopies() {
    val recordings = tempDir()
    val session = fakeSealedSession(File(recordings))
    val inbox = File(tempDir(), "inbox")
    val listener = CollectingUploadListener()
    val queue = UploadQueue.openInbox(journalIn(), inbox.path, UploadQueueConfig(retentionSeconds = 0uL))
    queue.setNetwork(NetworkState(NetworkKind.UNMETERED, false))
    queue.setListener(listener)
    queue.enqueueSessions(recordings)
    val contents = sessionContents(session)
    checkEquals(RunOutcome.EMPTY, queue.runUntilEmpty(), "outcome")
    // Each file is deleted on the device once the target holds all of it, never before.
    checkReceived(contents) { File(inbox, it).takeIf(File::isFile)?.readBytes() }
    checkEquals(emptyList<String>(), session.list()!!.toList(), "local files left")
    checkEquals(List(4) { UploadState.DELETED }, queue.status().map { it.state }, "states")
    val order = synchronized(listener.events) { listener.events.filter { it is UploadEvent.Completed || it is UploadEvent.Deleted } }
    for (event in order.filterIsInstance<UploadEvent.Deleted>()) {
        check(order.indexOf(UploadEvent.Completed(event.name)) in 0 until order.indexOf(event)) { "${event.name} deleted before it was complete" }
    }
    checkEquals(0u, queue.deleteExpired(), "files deleted again")
    queue.close()
}

fun throwingUploadListener() {
    val recordings = tempDir()
    val session = fakeSealedSession(File(recordings))
    val inbox = File(tempDir(), "inbox")
    val calls = AtomicInteger()
    val queue = UploadQueue.openInbox(journalIn(), inbox.path, UploadQueueConfig(chunkSize = 1000u))
    queue.setNetwork(NetworkState(NetworkKind.UNMETERED, false))
    queue.setListener(object : UploadListener {
        override fun onUploadEvent(event: UploadEvent) {
            if (calls.incrementAndGet() % 2 == 0) throw IllegalStateException("the UI is gone")
            throw EgocapException.Callback("the UI is gone")
        }
    })
    queue.enqueueSessions(recordings)
    checkEquals(RunOutcome.EMPTY, queue.runUntilEmpty(), "outcome")
    checkReceived(session) { File(inbox, it).takeIf(File::isFile)?.readBytes() }
    // A Progress per chunk (1 + 1 + 1 + 5) and a Completed per file.
    checkEquals(12, calls.get(), "listener calls")
    queue.close()
}

fun kotlinTransportResumes() {
    val recordings = tempDir()
    val session = fakeSealedSession(File(recordings))
    val server = FakeTusServer()
    // PATCHes 1-3 are the records; the medium's five chunks start at PATCH 4.
    server.patchFaults[5] = PatchFault.LINK_DROPS_HALFWAY
    server.patchFaults[7] = PatchFault.SERVER_UNAVAILABLE
    server.patchFaults[9] = PatchFault.JVM_ERROR
    val listener = CollectingUploadListener()
    val queue = UploadQueue.openTus(journalIn(), TUS_ENDPOINT, quickRetries(), server, null)
    queue.setNetwork(NetworkState(NetworkKind.UNMETERED, false))
    queue.setListener(listener)
    checkEquals(4u, queue.enqueueSessions(recordings), "files queued")
    checkEquals(RunOutcome.EMPTY, queue.runUntilEmpty(), "outcome")

    val received = server.files()
    checkReceived(session) { received[it] }
    checkAllComplete(queue, 4)
    val media = "${session.name}/seg-000000.mp4.age"
    // Each failed chunk is resumed where the server stands (HEAD), never from 0:
    // half of the dropped chunk (1000 + 500) is kept, the others are sent again.
    checkEquals(listOf(0L, 1000L, 1500L, 2500L, 2500L, 3500L, 3500L), server.patchOffsets(media), "PATCH offsets of the medium")
    val errors = listener.retrying().map { it.error }
    checkEquals(3, errors.size, "Retrying events ($errors)")
    check(errors[0].contains("link dropped halfway")) { "the IOException's message should reach the event: ${errors[0]}" }
    check(errors[1].contains("503")) { "the 503 should be named: ${errors[1]}" }
    check(errors[2].contains("host callback failed")) { "a JVM Error is a failed callback: ${errors[2]}" }

    val requests = synchronized(server.requests) { server.requests.toList() }
    check(requests.all { it.headers.named("Tus-Resumable") == "1.0.0" }) { "a request without Tus-Resumable: 1.0.0" }
    checkEquals(3, requests.count { it.method == "HEAD" }, "HEAD requests (one per resume)")
    val upload = server.uploads.values.single { it.metadata["filename"] == media }
    checkEquals(sha256Hex(File(session, "seg-000000.mp4.age").readBytes()), upload.metadata["sha256"], "sha256 metadata of the medium")
    checkEquals(sha256Hex(File(session, "seg-000000.record.json").readBytes()), upload.metadata["record_sha256"], "record_sha256 metadata")
    checkEquals(4_500L, upload.length, "Upload-Length of the medium")
    queue.close()
}

fun authRefresh() {
    val recordings = tempDir()
    val session = fakeSealedSession(File(recordings), mediaBytes = 1_500)
    val server = FakeTusServer(requiredToken = "t2")

    // t1 is refused; one refresh gives t2, which the server takes.
    val auth = TokenAuth(listOf("t1", "t2"))
    val queue = UploadQueue.openTus(journalIn(), TUS_ENDPOINT, quickRetries(), server, auth)
    queue.setNetwork(NetworkState(NetworkKind.UNMETERED, false))
    queue.enqueueSessions(recordings)
    checkEquals(RunOutcome.EMPTY, queue.runUntilEmpty(), "outcome with a refreshable token")
    checkEquals(1, auth.refreshes.get(), "refreshes")
    checkReceived(session) { server.files()[it] }
    checkEquals(listOf("Bearer t1", "Bearer t2"), server.requests.take(2).map { it.headers.named("Authorization") }, "first tokens sent")
    queue.close()

    // A token that no refresh makes acceptable pauses the queue; nothing is lost.
    val stuck = FakeTusServer(requiredToken = "t2")
    val listener = CollectingUploadListener()
    val refused = UploadQueue.openTus(journalIn(), TUS_ENDPOINT, quickRetries(), stuck, TokenAuth(listOf("t1")))
    refused.setNetwork(NetworkState(NetworkKind.UNMETERED, false))
    refused.setListener(listener)
    refused.enqueueSessions(recordings)
    checkEquals(RunOutcome.UNAUTHORIZED, refused.runUntilEmpty(), "outcome with a stale token")
    check(listener.events.contains(UploadEvent.Unauthorized)) { "no Unauthorized event: ${listener.events}" }
    val status = refused.status()
    check(status.all { it.state == UploadState.PENDING && it.acknowledged == 0uL }) { "files should wait: $status" }
    checkEquals(emptyMap<String, ByteArray>(), stuck.files().filterValues { it.isNotEmpty() }, "bytes the server took")

    // The server accepts t1 now; the same queue sends everything.
    stuck.requiredToken = "t1"
    checkEquals(RunOutcome.EMPTY, refused.runUntilEmpty(), "outcome once the token is accepted")
    checkReceived(session) { stuck.files()[it] }
    refused.close()

    // An auth provider that throws leaves the file to be retried, not the app crashed.
    val flaky = TokenAuth(listOf("t2")).apply { failNextHeaders = IllegalStateException("keychain locked") }
    val events = CollectingUploadListener()
    val retried = UploadQueue.openTus(journalIn(), TUS_ENDPOINT, quickRetries(), FakeTusServer(requiredToken = "t2"), flaky)
    retried.setNetwork(NetworkState(NetworkKind.UNMETERED, false))
    retried.setListener(events)
    retried.enqueueSessions(recordings)
    checkEquals(RunOutcome.EMPTY, retried.runUntilEmpty(), "outcome after a throwing auth provider")
    val errors = events.retrying().map { it.error }
    check(errors.size == 1 && errors[0].contains("keychain locked")) { "Retrying events: $errors" }
    retried.close()
}

fun networkPolicy() {
    val recordings = tempDir()
    val session = fakeSealedSession(File(recordings))
    val inbox = File(tempDir(), "inbox")
    val queue = UploadQueue.openInbox(journalIn(), inbox.path, UploadQueueConfig(allowMetered = false))
    queue.enqueueSessions(recordings)
    queue.setNetwork(NetworkState(NetworkKind.OFFLINE, true))
    checkEquals(RunOutcome.WAITING_FOR_NETWORK, queue.runUntilEmpty(), "offline")
    checkEquals(List(4) { UploadState.PENDING }, queue.status().map { it.state }, "states offline")
    queue.setNetwork(NetworkState(NetworkKind.METERED, false))
    checkEquals(RunOutcome.WAITING_FOR_NETWORK, queue.runUntilEmpty(), "metered")
    checkEquals(listOf(Lane.IDENTITY, Lane.IDENTITY, Lane.SEGMENT_RECORD), queue.status().filter { it.state == UploadState.COMPLETE }.map { it.lane }, "sent on a metered network")
    check(!File(inbox, "${session.name}/seg-000000.mp4.age").exists()) { "the medium went over a metered network" }
    queue.setNetwork(NetworkState(NetworkKind.UNMETERED, false))
    checkEquals(RunOutcome.EMPTY, queue.runUntilEmpty(), "unmetered")
    checkReceived(session) { File(inbox, it).takeIf(File::isFile)?.readBytes() }
    queue.close()
}

fun stopFromAnotherThread() {
    val recordings = tempDir()
    val session = fakeSealedSession(File(recordings), mediaBytes = 40_000)
    val server = FakeTusServer().apply { delayMs = 50 }
    val queue = UploadQueue.openTus(journalIn(), TUS_ENDPOINT, quickRetries(), server, null)
    queue.setNetwork(NetworkState(NetworkKind.UNMETERED, false))
    queue.enqueueSessions(recordings)
    var outcome: RunOutcome? = null
    var failure: Throwable? = null
    val worker = Thread { try { outcome = queue.runUntilEmpty() } catch (e: Throwable) { failure = e } }
    worker.start()
    while (server.patches.get() < 6 && worker.isAlive) Thread.sleep(5)
    check(worker.isAlive) { "the run ended before it could be stopped: $outcome $failure" }

    // The other calls answer while the run goes on.
    val extra = File(recordings, "extra.bin").apply { writeBytes(ByteArray(2_000) { it.toByte() }) }
    check(queue.enqueueFile(extra.path, "${session.name}/extra.bin")) { "enqueueFile during a run" }
    val during = queue.status()
    check(worker.isAlive) { "status() waited for the run to end" }
    checkEquals(5, during.size, "files queued during the run")

    queue.stop()
    worker.join(10_000)
    check(!worker.isAlive) { "stop() did not end the run" }
    failure?.let { throw it }
    checkEquals(RunOutcome.STOPPED, outcome, "outcome of the stopped run")
    val media = queue.status().single { it.name.endsWith("seg-000000.mp4.age") }
    check(media.state == UploadState.PENDING && media.acknowledged in 1uL until media.size) { "medium after stop: $media" }
    val sentBefore = server.patchOffsets(media.name).size

    // A stop while no run is going changes nothing; the next run resumes where the server stands.
    queue.stop()
    server.delayMs = 0
    checkEquals(RunOutcome.EMPTY, queue.runUntilEmpty(), "outcome of the next run")
    checkReceived(session) { server.files()[it] }
    checkEquals(extra.readBytes().toList(), server.files()["${session.name}/extra.bin"]?.toList(), "the file queued during the run")
    val resumedAt = server.patchOffsets(media.name)[sentBefore]
    checkEquals(media.acknowledged.toLong(), resumedAt, "offset the next run resumed at")
    queue.close()
}

fun typedUploadErrors() {
    // A journal that is random bytes: typed, kept, and set aside on request.
    val dir = tempDir()
    val journal = journalIn(dir)
    val noise = ByteArray(8192).also { java.util.Random(7).nextBytes(it) }
    File(journal).writeBytes(noise)
    val corrupt = assertThrows<EgocapException.UploadJournalCorrupt>("a journal of random bytes") {
        UploadQueue.openInbox(journal, File(dir, "inbox").path, UploadQueueConfig())
    }
    check(corrupt.reason.contains("corrupt")) { "reason: ${corrupt.reason}" }
    assertThrows<EgocapException.UploadJournalCorrupt>("the same journal for a tus queue") {
        UploadQueue.openTus(journal, TUS_ENDPOINT, UploadQueueConfig(), FakeTusServer(), null)
    }
    val aside = setAsideUploadJournal(journal)
    check(File(aside).readBytes().contentEquals(noise)) { "the corrupt journal was not kept at $aside" }
    val fresh = UploadQueue.openInbox(journal, File(dir, "inbox").path, UploadQueueConfig())
    fresh.setNetwork(NetworkState(NetworkKind.UNMETERED, false))
    checkEquals(0, fresh.status().size, "files in a fresh journal")

    // Paths that cannot be used.
    val file = File(dir, "a-file").apply { writeText("x") }
    val under = assertThrows<EgocapException.Storage>("a journal under a regular file") {
        UploadQueue.openInbox(File(file, "journal.db").path, File(dir, "inbox").path, UploadQueueConfig())
    }
    check(under.reason.contains("journal")) { "reason: ${under.reason}" }
    assertThrows<EgocapException.Storage>("a journal in a missing directory") {
        UploadQueue.openInbox(File(dir, "missing/journal.db").path, File(dir, "inbox").path, UploadQueueConfig())
    }
    val missing = assertThrows<EgocapException.Storage>("queueing a missing file") {
        fresh.enqueueFile(File(dir, "missing.mp4.age").path, "s/missing.mp4.age")
    }
    check(missing.reason.contains("missing.mp4.age")) { "reason: ${missing.reason}" }
    checkEquals(0u, fresh.enqueueSessions(File(dir, "no-recordings").path), "files queued from a missing directory")
    assertThrows<EgocapException.InvalidSettings>("a zero chunk size") {
        UploadQueue.openInbox(journalIn(), File(dir, "inbox").path, UploadQueueConfig(chunkSize = 0u))
    }
    fresh.close()
}
