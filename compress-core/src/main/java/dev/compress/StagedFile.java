package dev.compress;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * An output file written under a temporary name in its target folder and moved into place by {@link #commit()}, so a
 * failure never leaves half a file. Closing without committing deletes the temporary file.
 *
 * <p>Inside a {@link Batch} (a command run), {@link #commit()} only hands the file to the batch, which moves all its
 * files into place together at the end (see {@link Batch#commit()}), so a model never lands without its report.
 *
 * <p>The temporary file is named {@code .NAME.<pid>.<hex>.tmp} beside its target: the process id tells a later run
 * ({@link #recover}) whether its writer is gone. It is created like any new file (not with
 * {@code Files.createTempFile}, which makes it private), so the result gets the permissions the user's umask gives.
 */
public final class StagedFile implements AutoCloseable {
    private static final long PID = ProcessHandle.current().pid();
    /** What follows {@code .NAME.}: {@code <pid>.<hex>.tmp}, or {@code <hex>.tmp} as earlier versions wrote. */
    private static final Pattern TEMP = Pattern.compile("(?:(\\d+)\\.)?[0-9a-f]{1,16}\\.tmp");
    /** A batch's list of moves; {@code .part} while it is being written. */
    private static final Pattern JOURNAL = Pattern.compile("\\.compress-commit\\.(\\d+)\\.[0-9a-f]{1,16}"
            + "\\.(journal|part)");

    private final Path target;
    private final Path temp;
    private boolean committed;

    private StagedFile(Path target, Path temp) {
        this.target = target;
        this.temp = temp;
    }

    /**
     * Checks that {@code file} can be written (its folder exists, it is not a folder) and reserves a temporary name.
     *
     * @throws CompressException BAD_INPUT naming {@code file} otherwise
     */
    public static StagedFile create(Path file) {
        Path target = file.toAbsolutePath();
        Path folder = target.getParent();
        if (folder == null || !Files.isDirectory(folder)) {
            throw CompressException.badInput(file, "output folder does not exist");
        }
        if (Files.isDirectory(target)) {
            throw CompressException.badInput(file, "is a directory, expected a file name");
        }
        return new StagedFile(target, folder.resolve("." + target.getFileName() + "." + PID + "." + hex() + ".tmp"));
    }

    private static String hex() {
        return Long.toHexString(ThreadLocalRandom.current().nextLong());
    }

    /** Opens the temporary file for writing; it must not exist yet. */
    public OutputStream open() throws IOException {
        try {
            return Files.newOutputStream(temp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
        } catch (FileAlreadyExistsException e) {
            throw new IOException("temporary file " + temp + " already exists", e);
        }
    }

    /** The final path. */
    public Path target() {
        return target;
    }

    /**
     * Moves the written file into place, replacing an existing one; inside a {@link Batch}, leaves that to the batch.
     */
    public void commit() throws IOException {
        Batch batch = Batch.CURRENT.get();
        if (batch != null) {
            batch.add(this);
        } else {
            move(temp, target);
        }
        committed = true;
    }

    private static void move(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /** Deletes the temporary file unless it was committed. */
    @Override
    public void close() {
        if (!committed) {
            deleteQuietly(temp);
        }
    }

    private static void deleteQuietly(Path file) {
        try {
            Files.deleteIfExists(file);
        } catch (IOException ignored) {
            // best effort: a leftover has a dot-name and a .tmp suffix, and the next run of the target removes it
        }
    }

    /**
     * Where the bytes of {@code file} are now: the temporary file when the current {@link Batch} holds a new version
     * of it not yet moved into place, else {@code file} itself. For a command that reports on what it wrote.
     */
    public static Path written(Path file) {
        Batch batch = Batch.CURRENT.get();
        if (batch != null) {
            synchronized (batch) {
                StagedFile staged = batch.files.get(file.toAbsolutePath());
                if (staged != null) {
                    return staged.temp;
                }
            }
        }
        return file;
    }

    /**
     * Writes {@code text} as UTF-8 to {@code file} atomically.
     *
     * @throws CompressException BAD_INPUT naming the file if it cannot be written
     */
    public static void writeString(Path file, String text) {
        try (StagedFile staged = create(file)) {
            try (OutputStream out = staged.open()) {
                out.write(text.getBytes(StandardCharsets.UTF_8));
            }
            staged.commit();
        } catch (IOException e) {
            throw CompressException.badInput(file, "cannot write (" + e.getClass().getSimpleName() + ": "
                    + e.getMessage() + ")", e);
        }
    }

    /**
     * Cleans up after writers of files in the folders of {@code targets} that died (SIGKILL, power loss): a batch
     * whose journal was written had all its files complete, so its moves are finished; temporary files of a target
     * in {@code targets} that no journal claims are deleted. Files of live processes are left alone.
     */
    public static void recover(List<Path> targets) {
        List<Path> folders = folders(targets, false);
        finishJournals(folders);
        for (Path target : targets) {
            Path absolute = target.toAbsolutePath();
            Path folder = absolute.getParent();
            if (folder == null || !folders.contains(folder)) {
                continue;
            }
            String prefix = "." + absolute.getFileName() + ".";
            for (Path file : list(folder)) {
                String name = file.getFileName().toString();
                Matcher temp = TEMP.matcher(name.substring(Math.min(prefix.length(), name.length())));
                if (name.startsWith(prefix) && temp.matches() && (temp.group(1) == null || gone(temp.group(1)))) {
                    deleteQuietly(file);
                }
            }
        }
    }

    /**
     * Finishes the commits of dead writers (SIGKILL in mid-commit) that concern {@code files}: every journal in
     * their folders, and inside those that are folders. A batch writes its journal into the folder of each file
     * it moves, so whichever file a command reads, a journal naming it lies beside it: no command sees a new model
     * beside an old report. Files of live writers are left alone.
     */
    public static void settle(List<Path> files) {
        finishJournals(folders(files, true));
    }

    /** The folders of {@code files}, and with {@code inside} those of them that are folders, each once. */
    private static List<Path> folders(List<Path> files, boolean inside) {
        List<Path> folders = new ArrayList<>();
        for (Path file : files) {
            Path absolute = file.toAbsolutePath();
            List<Path> candidates = new ArrayList<>();
            candidates.add(absolute.getParent());
            if (inside && Files.isDirectory(absolute)) {
                candidates.add(absolute);
            }
            for (Path folder : candidates) {
                if (folder != null && Files.isDirectory(folder) && !folders.contains(folder)) {
                    folders.add(folder);
                }
            }
        }
        return folders;
    }

    private static void finishJournals(List<Path> folders) {
        for (Path folder : folders) {
            for (Path file : list(folder)) {
                Matcher journal = JOURNAL.matcher(file.getFileName().toString());
                if (journal.matches() && gone(journal.group(1))) {
                    if (journal.group(2).equals("journal")) {
                        finish(file);
                    }
                    deleteQuietly(file);
                }
            }
        }
    }

    private static boolean gone(String pid) {
        long id = Long.parseLong(pid);
        return id != PID && ProcessHandle.of(id).map(process -> !process.isAlive()).orElse(true);
    }

    private static List<Path> list(Path folder) {
        List<Path> files = new ArrayList<>();
        try (DirectoryStream<Path> stream = Files.newDirectoryStream(folder, ".*")) {
            stream.forEach(files::add);
        } catch (IOException e) {
            // an unreadable folder: the write itself reports it
        }
        return files;
    }

    /** Does the moves of a dead writer's journal that it did not get to. */
    private static void finish(Path journal) {
        try {
            for (String line : Files.readAllLines(journal, StandardCharsets.UTF_8)) {
                int tab = line.indexOf('\t');
                if (tab > 0) {
                    try {
                        move(Path.of(line.substring(0, tab)), Path.of(line.substring(tab + 1)));
                    } catch (NoSuchFileException done) {
                        // moved before the writer died
                    }
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot finish the interrupted commit in " + journal, e);
        }
    }

    /**
     * Runs {@code work} with its files moved into place one by one as they are committed, as outside a batch: for
     * work that reads back files it wrote (a recipe's run folder is a cache its later steps read).
     */
    public static <T> T immediately(Supplier<T> work) {
        Batch batch = Batch.CURRENT.get();
        Batch.CURRENT.remove();
        try {
            return work.get();
        } finally {
            Batch.CURRENT.set(batch);
        }
    }

    /**
     * The files one command run writes, moved into place together by {@link #commit()} once everything is written,
     * so an interrupted run leaves either all the old files or all the new ones:
     *
     * <ul>
     *   <li>before the commit, every new file is a temporary one; an exception, or SIGINT (a shutdown hook), deletes
     *       them, and a SIGKILL leaves them for the next run of the same targets to delete ({@link #recover});
     *   <li>the commit first writes a journal of its moves (to a {@code .part} file, renamed when complete), then
     *       moves, then deletes the journal; SIGINT waits for it, and after a SIGKILL the next run finishes the moves.
     * </ul>
     *
     * Files committed by any thread started inside the batch belong to it.
     */
    public static final class Batch implements AutoCloseable {
        private static final InheritableThreadLocal<Batch> CURRENT = new InheritableThreadLocal<>();
        /** Milliseconds to wait before and after each step of a commit, for the test that interrupts one; else 0. */
        private static final long PAUSE = Long.getLong("compress.test.commitPauseMillis", 0);

        private final Map<Path, StagedFile> files = new LinkedHashMap<>();
        private final Thread onInterrupt = new Thread(this::abort, "compress-interrupted");
        private boolean done;

        private Batch() {}

        /** Starts a batch for the current thread and the threads it starts. */
        public static Batch begin() {
            Batch batch = new Batch();
            CURRENT.set(batch);
            Runtime.getRuntime().addShutdownHook(batch.onInterrupt);
            return batch;
        }

        private synchronized void add(StagedFile file) {
            if (done) {
                throw new IllegalStateException("the run is being interrupted");
            }
            StagedFile earlier = files.put(file.target, file);
            if (earlier != null) {
                deleteQuietly(earlier.temp); // written twice: the later version wins
            }
        }

        /** Moves every file into place, through a journal when there is more than one. */
        public void commit() throws IOException {
            pause(); // outside the lock: an interrupt here comes before the commit
            synchronized (this) {
                moveAll();
            }
        }

        private void moveAll() throws IOException {
            if (done) {
                throw new IOException("interrupted before the outputs were written");
            }
            done = true;
            if (files.isEmpty()) {
                return;
            }
            List<Path> journals = new ArrayList<>();
            if (files.size() > 1) {
                StringBuilder moves = new StringBuilder();
                files.values().forEach(file -> moves.append(file.temp).append('\t').append(file.target).append('\n'));
                String name = ".compress-commit." + PID + "." + hex();
                // one copy beside each file: a reader of any of them finds it there (settle)
                for (StagedFile file : files.values()) {
                    Path folder = file.target.getParent();
                    if (journals.stream().noneMatch(j -> j.getParent().equals(folder))) {
                        Path part = folder.resolve(name + ".part");
                        Files.writeString(part, moves, StandardCharsets.UTF_8, StandardOpenOption.CREATE_NEW,
                                StandardOpenOption.WRITE, StandardOpenOption.SYNC);
                        journals.add(folder.resolve(name + ".journal"));
                        move(part, journals.get(journals.size() - 1));
                    }
                }
                pause();
            }
            for (StagedFile file : files.values()) {
                move(file.temp, file.target);
                pause();
            }
            for (Path journal : journals) {
                Files.delete(journal);
            }
        }

        private static void pause() {
            if (PAUSE > 0) {
                try {
                    Thread.sleep(PAUSE);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }

        /** The shutdown hook: waits for a commit under way, or keeps one from starting and deletes the files. */
        private synchronized void abort() {
            if (!done) {
                done = true;
                files.values().forEach(file -> deleteQuietly(file.temp));
            }
        }

        /** Deletes the files unless committed; ends the batch. */
        @Override
        public synchronized void close() {
            abort();
            CURRENT.remove();
            try {
                Runtime.getRuntime().removeShutdownHook(onInterrupt);
            } catch (IllegalStateException shuttingDown) {
                // the hook runs or has run
            }
        }
    }
}
