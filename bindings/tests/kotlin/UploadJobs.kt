// Chunk jobs from Kotlin, as an iOS app with a background URLSession drives
// them: the app plans a job, hands the request and body file to a session
// that runs outside the app (here: a queue of tasks sent later to the
// in-memory tus server of Upload.kt), reports each task's end, and after a
// relaunch reconciles the jobs the journal kept with the tasks it still has.

package egocap.tests

import java.io.File
import uniffi.egocap_ffi.*

fun uploadJobTests(run: TestRun) {
    run.test("upload_jobs_a_background_session_sends_every_file_byte_for_byte") { backgroundSessionSendsEverything() }
    run.test("upload_jobs_a_task_that_ended_while_the_app_was_dead_is_settled_on_relaunch") { jobsSurviveARelaunch() }
    run.test("upload_jobs_a_failed_task_is_retried_and_an_inbox_queue_hands_out_none") { failedJobsAndInboxRefusal() }
}

/** A background session: tasks wait until [runNext] sends one, as the system does while the app sleeps. */
class BackgroundSession(private val server: FakeTusServer) {
    val tasks = linkedMapOf<Long, ChunkJob>()

    fun start(job: ChunkJob) {
        check(File(job.bodyPath).length() == job.length.toLong()) { "the body file holds ${File(job.bodyPath).length()} bytes, not ${job.length}" }
        check(job.headers.named("Content-Length") == null) { "Content-Length is the session's to set" }
        tasks[job.id] = job
    }

    /** Sends the oldest task; returns its id and how it ended. */
    fun runNext(): Pair<Long, ChunkJobOutcome> {
        val (id, job) = tasks.entries.first()
        tasks.remove(id)
        val request = HttpRequest(job.method, job.url, job.headers, File(job.bodyPath).readBytes())
        val outcome = try {
            ChunkJobOutcome.Response(server.send(request))
        } catch (e: Exception) {
            ChunkJobOutcome.Failed(e.toString())
        }
        return id to outcome
    }
}

fun openJobQueue(journal: String, server: FakeTusServer, recordings: String): UploadQueue {
    val queue = UploadQueue.openTus(journal, TUS_ENDPOINT, quickRetries(), server, null)
    queue.setNetwork(NetworkState(NetworkKind.UNMETERED, false))
    queue.enqueueSessions(recordings)
    return queue
}

/** Plans, sends and reports jobs until the queue has nothing to hand out. */
fun driveJobs(queue: UploadQueue, session: BackgroundSession): RunOutcome {
    while (true) {
        when (val plan = queue.planChunkJob()) {
            is ChunkJobPlan.Submit -> {
                session.start(plan.job)
                val (id, outcome) = session.runNext()
                queue.finishChunkJob(id, outcome)
            }
            is ChunkJobPlan.Wait -> Thread.sleep(plan.retryInMs.toLong())
            is ChunkJobPlan.Idle -> return plan.outcome
            is ChunkJobPlan.Busy -> throw AssertionFailed("job ${plan.jobId} is in flight with no task sending it")
        }
    }
}

/** Every file of [sealed] arrived whole and complete, and each chunk of the medium was sent once. */
fun checkSentOnce(queue: UploadQueue, server: FakeTusServer, sealed: File) {
    checkReceived(sealed) { server.files()[it] }
    checkAllComplete(queue, 4)
    checkEquals(listOf(0L, 1000L, 2000L, 3000L, 4000L), server.patchOffsets("${sealed.name}/seg-000000.mp4.age"), "PATCH offsets of the medium: each chunk once")
}

fun backgroundSessionSendsEverything() {
    val recordings = tempDir()
    val sealed = fakeSealedSession(File(recordings))
    val server = FakeTusServer()
    val journal = journalIn()
    val queue = openJobQueue(journal, server, recordings)
    val completed = mutableListOf<String>()
    val session = BackgroundSession(server)
    while (true) {
        val plan = queue.planChunkJob()
        if (plan is ChunkJobPlan.Idle) { checkEquals(RunOutcome.EMPTY, plan.outcome, "outcome"); break }
        val job = (plan as ChunkJobPlan.Submit).job
        session.start(job)
        checkEquals(ChunkJobPlan.Busy(job.id), queue.planChunkJob(), "plan while a job is in flight")
        val (id, outcome) = session.runNext()
        val finished = queue.finishChunkJob(id, outcome)
        if (finished is ChunkJobFinished.Completed) completed.add(finished.name.substringAfter('/'))
        check(!File(job.bodyPath).exists()) { "the body file of a reported job is deleted" }
    }
    checkEquals(SESSION_FILES, completed, "completion order (records before the medium)")
    checkSentOnce(queue, server, sealed)
    queue.close()
}

fun jobsSurviveARelaunch() {
    val recordings = tempDir()
    val sealed = fakeSealedSession(File(recordings))
    val server = FakeTusServer()
    val journal = journalIn()
    val session = BackgroundSession(server)
    var queue = openJobQueue(journal, server, recordings)
    // Up to the medium's first chunk, which the session sends while the app is dead.
    var job: ChunkJob
    while (true) {
        job = (queue.planChunkJob() as ChunkJobPlan.Submit).job
        session.start(job)
        if (job.name.endsWith(".mp4.age")) break
        val (id, outcome) = session.runNext()
        queue.finishChunkJob(id, outcome)
    }
    queue.close()
    val (landedId, lateReport) = session.runNext()

    queue = openJobQueue(journal, server, recordings)
    checkEquals(ChunkJobPlan.Busy(landedId), queue.planChunkJob(), "plan before reconciling")
    checkEquals(0u, queue.reconcileChunkJobs(listOf()), "jobs still in flight")
    val medium = queue.status().single { it.name == job.name }
    checkEquals(job.length, medium.acknowledged, "acknowledged after reconciling with HEAD")
    checkEquals(ChunkJobFinished.Unknown, queue.finishChunkJob(landedId, lateReport), "a late report")

    // A job whose task the session still has stays in flight across a relaunch.
    val next = (queue.planChunkJob() as ChunkJobPlan.Submit).job
    session.start(next)
    queue.close()
    queue = openJobQueue(journal, server, recordings)
    checkEquals(1u, queue.reconcileChunkJobs(listOf(next.id)), "the live task's job stays")
    val (id, outcome) = session.runNext()
    check(queue.finishChunkJob(id, outcome) is ChunkJobFinished.Acknowledged) { "the live task's report is applied" }

    checkEquals(RunOutcome.EMPTY, driveJobs(queue, session), "outcome")
    checkSentOnce(queue, server, sealed)
    queue.close()
}

fun failedJobsAndInboxRefusal() {
    val recordings = tempDir()
    val sealed = fakeSealedSession(File(recordings))
    val server = FakeTusServer()
    server.patchFaults[1] = PatchFault.SERVER_UNAVAILABLE
    val queue = openJobQueue(journalIn(), server, recordings)
    val job = (queue.planChunkJob() as ChunkJobPlan.Submit).job
    val session = BackgroundSession(server)
    session.start(job)
    val (id, outcome) = session.runNext()
    val finished = queue.finishChunkJob(id, outcome)
    check(finished is ChunkJobFinished.Retrying && finished.retryInMs > 0uL) { "a 503 is retried after a backoff: $finished" }
    val failed = queue.finishChunkJob(id, ChunkJobOutcome.Failed("reported twice"))
    checkEquals(ChunkJobFinished.Unknown, failed, "a second report of the same job")
    checkEquals(RunOutcome.EMPTY, driveJobs(queue, session), "outcome")
    checkReceived(sealed) { server.files()[it] }
    queue.close()

    val inbox = UploadQueue.openInbox(journalIn(), File(tempDir(), "inbox").path, UploadQueueConfig())
    inbox.enqueueSessions(recordings)
    assertThrows<EgocapException.InvalidSettings>("chunk jobs from an inbox queue") { inbox.planChunkJob() }
    check(inbox.status().all { it.state == UploadState.PENDING }) { "the files stay pending" }
    inbox.close()
}
