//! Capability `filesystem`: `wasi:filesystem/types` and `preopens` — the domain's data
//! read-only at `/data`, a fresh writable `/scratch`, nothing else — with a quota on what a
//! call may write to `/scratch` (`SandboxPolicy::scratch_bytes`, `scratch_files`).
//!
//! Every descriptor operation goes through [`ScratchFs`], which delegates to wasmtime-wasi's
//! implementation after charging the quota: a write is charged by how far it grows the file
//! (stat before, so overwriting in place is free), `set-size` by the growth (shrinking gives
//! bytes back: the blocks really are freed), and every new file, directory or symlink counts
//! one entry. Deleting a file does not give its bytes back: a file deleted while still open
//! keeps its blocks on disk, and the host cannot see which of the guest's descriptors are
//! open, so the quota counts what the call wrote rather than what is left. Hard links are
//! refused (they would let one file be charged once and reached twice). Past either quota
//! the call traps with [`Exceeded::ScratchBytes`] / [`Exceeded::ScratchFiles`].
//!
//! Writes through streams (`write-via-stream`, `append-via-stream`, which is how the
//! preview-1 adapter and most libcs write) are charged by a wrapper around the returned
//! stream that tracks its position.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasmtime::component::{HasData, Linker, Resource};
use wasmtime_wasi::filesystem::{WasiFilesystemCtxView, WasiFilesystemView};
use wasmtime_wasi::p2::bindings::sync::filesystem::types as fs;
use wasmtime_wasi::p2::bindings::sync::io::streams;
use wasmtime_wasi::p2::{FsError, FsResult, OutputStream, Pollable, StreamError, StreamResult};

use crate::host::HostState;
use crate::limits::Exceeded;

/// One call's `/scratch` accounting.
pub(crate) struct ScratchQuota {
    max_bytes: u64,
    max_files: u64,
    bytes: u64,
    files: u64,
    /// Descriptors and directory streams the guest opened and has not dropped: each holds
    /// an OS descriptor of the host process.
    open: std::collections::HashSet<u32>,
    max_open: usize,
    started: Instant,
    deadline: Duration,
}

pub(crate) type SharedQuota = Arc<Mutex<ScratchQuota>>;

impl ScratchQuota {
    /// One call's quota from its slice of the policy: `scratch_bytes`, `scratch_files`,
    /// `open_files`, and the deadline (checked by every filesystem call).
    pub(crate) fn for_call(policy: &crate::SandboxPolicy) -> SharedQuota {
        Self::shared(
            policy.scratch_bytes,
            policy.scratch_files,
            policy.open_files,
            policy.deadline,
        )
    }

    fn shared(max_bytes: u64, max_files: u64, max_open: usize, deadline: Duration) -> SharedQuota {
        Arc::new(Mutex::new(ScratchQuota {
            max_bytes,
            max_files,
            bytes: 0,
            files: 0,
            open: std::collections::HashSet::new(),
            max_open,
            started: Instant::now(),
            deadline,
        }))
    }

    fn charge(&mut self, grow: u64, what: impl FnOnce() -> String) -> Result<(), Exceeded> {
        let total = self.bytes.saturating_add(grow);
        if total > self.max_bytes {
            return Err(Exceeded::ScratchBytes {
                limit: self.max_bytes,
                what: what(),
            });
        }
        self.bytes = total;
        Ok(())
    }

    fn refund(&mut self, bytes: u64) {
        self.bytes = self.bytes.saturating_sub(bytes);
    }

    fn new_entry(&mut self) -> Result<(), Exceeded> {
        if self.files >= self.max_files {
            return Err(Exceeded::ScratchFiles {
                limit: self.max_files,
            });
        }
        self.files += 1;
        Ok(())
    }

    fn room(&self, call: &'static str) -> Result<(), Exceeded> {
        if self.open.len() >= self.max_open {
            return Err(Exceeded::Handles {
                limit: self.max_open,
                call,
            });
        }
        Ok(())
    }

    fn check_deadline(&self, call: &'static str) -> Result<(), Exceeded> {
        if self.started.elapsed() >= self.deadline {
            return Err(Exceeded::Deadline {
                deadline: self.deadline,
                call,
            });
        }
        Ok(())
    }
}

fn lock(q: &SharedQuota) -> std::sync::MutexGuard<'_, ScratchQuota> {
    // A poisoned lock only means an earlier host call panicked mid-update; the counters are
    // still the best information there is.
    q.lock().unwrap_or_else(|p| p.into_inner())
}

fn trap<T>(e: Exceeded) -> FsResult<T> {
    Err(FsError::trap(e.trap()))
}

/// The filesystem as one call sees it: wasmtime-wasi's implementation plus the quota.
pub(crate) struct ScratchFs<'a> {
    inner: WasiFilesystemCtxView<'a>,
    quota: SharedQuota,
}

pub(crate) struct ScratchFsData;

impl HasData for ScratchFsData {
    type Data<'a> = ScratchFs<'a>;
}

fn scratch_fs(state: &mut HostState) -> ScratchFs<'_> {
    let quota = state.scratch_quota.clone();
    ScratchFs {
        inner: state.filesystem(),
        quota,
    }
}

pub(crate) fn link(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    use wasmtime_wasi::filesystem::WasiFilesystem;
    use wasmtime_wasi::p2::bindings::filesystem::preopens;
    preopens::add_to_linker::<HostState, WasiFilesystem>(linker, |s| s.filesystem())?;
    fs::add_to_linker::<HostState, ScratchFsData>(linker, scratch_fs)
}

/// A second handle to the same descriptor, for the host's own look before an operation.
fn again<T: 'static>(r: &Resource<T>) -> Resource<T> {
    Resource::new_borrow(r.rep())
}

impl ScratchFs<'_> {
    fn enter(&self, call: &'static str) -> FsResult<()> {
        match lock(&self.quota).check_deadline(call) {
            Ok(()) => Ok(()),
            Err(e) => trap(e),
        }
    }

    fn size_of(&mut self, fd: &Resource<fs::Descriptor>) -> FsResult<u64> {
        Ok(fs::HostDescriptor::stat(&mut self.inner, again(fd))?.size)
    }

    /// Size of `path` under `fd` if it exists (not following a final symlink).
    fn existing(
        &mut self,
        fd: &Resource<fs::Descriptor>,
        path: &str,
    ) -> Option<fs::DescriptorStat> {
        fs::HostDescriptor::stat_at(
            &mut self.inner,
            again(fd),
            fs::PathFlags::empty(),
            path.to_string(),
        )
        .ok()
    }

    fn new_entry(&mut self) -> FsResult<()> {
        match lock(&self.quota).new_entry() {
            Ok(()) => Ok(()),
            Err(e) => trap(e),
        }
    }

    /// Refuses to open one more descriptor past the quota.
    fn open_one(&mut self, call: &'static str) -> FsResult<()> {
        match lock(&self.quota).room(call) {
            Ok(()) => Ok(()),
            Err(e) => trap(e),
        }
    }

    /// Counts what the guest just opened, by its table entry (so that dropping a copy of a
    /// preopen gives nothing back).
    fn opened<T: 'static>(&mut self, result: FsResult<Resource<T>>) -> FsResult<Resource<T>> {
        if let Ok(r) = &result {
            lock(&self.quota).open.insert(r.rep());
        }
        result
    }

    fn closed(&mut self, rep: u32) {
        lock(&self.quota).open.remove(&rep);
    }

    /// Wraps the output stream just made for `fd` so that its writes are charged.
    fn meter_stream(
        &mut self,
        stream: Resource<streams::OutputStream>,
        start: Option<u64>,
        size: u64,
    ) -> FsResult<Resource<streams::OutputStream>> {
        let slot = self.inner.table.get_mut(&stream)?;
        let inner = std::mem::replace(slot, Box::new(Placeholder));
        *slot = Box::new(MeteredStream {
            inner,
            quota: self.quota.clone(),
            position: start,
            size,
        });
        Ok(stream)
    }
}

impl fs::Host for ScratchFs<'_> {
    fn convert_error_code(&mut self, err: FsError) -> wasmtime::Result<fs::ErrorCode> {
        fs::Host::convert_error_code(&mut self.inner, err)
    }

    fn filesystem_error_code(
        &mut self,
        err: Resource<streams::Error>,
    ) -> wasmtime::Result<Option<fs::ErrorCode>> {
        fs::Host::filesystem_error_code(&mut self.inner, err)
    }
}

impl fs::HostDescriptor for ScratchFs<'_> {
    fn advise(
        &mut self,
        fd: Resource<fs::Descriptor>,
        offset: fs::Filesize,
        len: fs::Filesize,
        advice: fs::Advice,
    ) -> FsResult<()> {
        self.enter("filesystem.advise")?;
        fs::HostDescriptor::advise(&mut self.inner, fd, offset, len, advice)
    }

    fn sync_data(&mut self, fd: Resource<fs::Descriptor>) -> FsResult<()> {
        self.enter("filesystem.sync-data")?;
        fs::HostDescriptor::sync_data(&mut self.inner, fd)
    }

    fn get_flags(&mut self, fd: Resource<fs::Descriptor>) -> FsResult<fs::DescriptorFlags> {
        self.enter("filesystem.get-flags")?;
        fs::HostDescriptor::get_flags(&mut self.inner, fd)
    }

    fn get_type(&mut self, fd: Resource<fs::Descriptor>) -> FsResult<fs::DescriptorType> {
        self.enter("filesystem.get-type")?;
        fs::HostDescriptor::get_type(&mut self.inner, fd)
    }

    fn set_size(&mut self, fd: Resource<fs::Descriptor>, size: fs::Filesize) -> FsResult<()> {
        self.enter("filesystem.set-size")?;
        let before = self.size_of(&fd)?;
        if size > before {
            if let Err(e) = lock(&self.quota).charge(size - before, || {
                format!("set-size from {before} to {size} bytes")
            }) {
                return trap(e);
            }
        }
        let result = fs::HostDescriptor::set_size(&mut self.inner, fd, size);
        match (&result, size < before) {
            (Ok(()), true) => lock(&self.quota).refund(before - size),
            (Err(_), false) if size > before => lock(&self.quota).refund(size - before),
            _ => {}
        }
        result
    }

    fn set_times(
        &mut self,
        fd: Resource<fs::Descriptor>,
        atim: fs::NewTimestamp,
        mtim: fs::NewTimestamp,
    ) -> FsResult<()> {
        self.enter("filesystem.set-times")?;
        fs::HostDescriptor::set_times(&mut self.inner, fd, atim, mtim)
    }

    fn read(
        &mut self,
        fd: Resource<fs::Descriptor>,
        len: fs::Filesize,
        offset: fs::Filesize,
    ) -> FsResult<(Vec<u8>, bool)> {
        self.enter("filesystem.read")?;
        fs::HostDescriptor::read(&mut self.inner, fd, len, offset)
    }

    fn write(
        &mut self,
        fd: Resource<fs::Descriptor>,
        buf: Vec<u8>,
        offset: fs::Filesize,
    ) -> FsResult<fs::Filesize> {
        self.enter("filesystem.write")?;
        let before = self.size_of(&fd)?;
        let end = offset.saturating_add(buf.len() as u64);
        let grow = end.saturating_sub(before);
        if let Err(e) = lock(&self.quota).charge(grow, || {
            format!("write of {} bytes at offset {offset}", buf.len())
        }) {
            return trap(e);
        }
        let result = fs::HostDescriptor::write(&mut self.inner, fd, buf, offset);
        if result.is_err() {
            lock(&self.quota).refund(grow);
        }
        result
    }

    fn read_directory(
        &mut self,
        fd: Resource<fs::Descriptor>,
    ) -> FsResult<Resource<fs::DirectoryEntryStream>> {
        self.enter("filesystem.read-directory")?;
        self.open_one("filesystem.read-directory")?;
        let result = fs::HostDescriptor::read_directory(&mut self.inner, fd);
        self.opened(result)
    }

    fn sync(&mut self, fd: Resource<fs::Descriptor>) -> FsResult<()> {
        self.enter("filesystem.sync")?;
        fs::HostDescriptor::sync(&mut self.inner, fd)
    }

    fn create_directory_at(&mut self, fd: Resource<fs::Descriptor>, path: String) -> FsResult<()> {
        self.enter("filesystem.create-directory-at")?;
        self.new_entry()?;
        fs::HostDescriptor::create_directory_at(&mut self.inner, fd, path)
    }

    fn stat(&mut self, fd: Resource<fs::Descriptor>) -> FsResult<fs::DescriptorStat> {
        self.enter("filesystem.stat")?;
        fs::HostDescriptor::stat(&mut self.inner, fd)
    }

    fn stat_at(
        &mut self,
        fd: Resource<fs::Descriptor>,
        path_flags: fs::PathFlags,
        path: String,
    ) -> FsResult<fs::DescriptorStat> {
        self.enter("filesystem.stat-at")?;
        fs::HostDescriptor::stat_at(&mut self.inner, fd, path_flags, path)
    }

    fn set_times_at(
        &mut self,
        fd: Resource<fs::Descriptor>,
        path_flags: fs::PathFlags,
        path: String,
        atim: fs::NewTimestamp,
        mtim: fs::NewTimestamp,
    ) -> FsResult<()> {
        self.enter("filesystem.set-times-at")?;
        fs::HostDescriptor::set_times_at(&mut self.inner, fd, path_flags, path, atim, mtim)
    }

    fn link_at(
        &mut self,
        _fd: Resource<fs::Descriptor>,
        _old_path_flags: fs::PathFlags,
        _old_path: String,
        _new_descriptor: Resource<fs::Descriptor>,
        _new_path: String,
    ) -> FsResult<()> {
        self.enter("filesystem.link-at")?;
        Err(wasmtime_wasi::p2::bindings::filesystem::types::ErrorCode::NotPermitted.into())
    }

    fn open_at(
        &mut self,
        fd: Resource<fs::Descriptor>,
        path_flags: fs::PathFlags,
        path: String,
        oflags: fs::OpenFlags,
        flags: fs::DescriptorFlags,
    ) -> FsResult<Resource<fs::Descriptor>> {
        self.enter("filesystem.open-at")?;
        let writes = flags.contains(fs::DescriptorFlags::WRITE);
        let creates = oflags.contains(fs::OpenFlags::CREATE);
        let truncates = oflags.contains(fs::OpenFlags::TRUNCATE);
        let existing = if creates || truncates {
            self.existing(&fd, &path)
        } else {
            None
        };
        if creates && existing.is_none() {
            self.new_entry()?;
        }
        self.open_one("filesystem.open-at")?;
        let result =
            fs::HostDescriptor::open_at(&mut self.inner, fd, path_flags, path, oflags, flags);
        let opened = self.opened(result)?;
        if let (true, true, Some(stat)) = (writes, truncates, existing) {
            if stat.type_ == fs::DescriptorType::RegularFile {
                lock(&self.quota).refund(stat.size);
            }
        }
        Ok(opened)
    }

    fn drop(&mut self, fd: Resource<fs::Descriptor>) -> wasmtime::Result<()> {
        self.closed(fd.rep());
        fs::HostDescriptor::drop(&mut self.inner, fd)
    }

    fn readlink_at(&mut self, fd: Resource<fs::Descriptor>, path: String) -> FsResult<String> {
        self.enter("filesystem.readlink-at")?;
        fs::HostDescriptor::readlink_at(&mut self.inner, fd, path)
    }

    fn remove_directory_at(&mut self, fd: Resource<fs::Descriptor>, path: String) -> FsResult<()> {
        self.enter("filesystem.remove-directory-at")?;
        fs::HostDescriptor::remove_directory_at(&mut self.inner, fd, path)
    }

    fn rename_at(
        &mut self,
        fd: Resource<fs::Descriptor>,
        old_path: String,
        new_fd: Resource<fs::Descriptor>,
        new_path: String,
    ) -> FsResult<()> {
        self.enter("filesystem.rename-at")?;
        fs::HostDescriptor::rename_at(&mut self.inner, fd, old_path, new_fd, new_path)
    }

    fn symlink_at(
        &mut self,
        fd: Resource<fs::Descriptor>,
        src_path: String,
        dest_path: String,
    ) -> FsResult<()> {
        self.enter("filesystem.symlink-at")?;
        self.new_entry()?;
        fs::HostDescriptor::symlink_at(&mut self.inner, fd, src_path, dest_path)
    }

    fn unlink_file_at(&mut self, fd: Resource<fs::Descriptor>, path: String) -> FsResult<()> {
        self.enter("filesystem.unlink-file-at")?;
        fs::HostDescriptor::unlink_file_at(&mut self.inner, fd, path)
    }

    fn read_via_stream(
        &mut self,
        fd: Resource<fs::Descriptor>,
        offset: fs::Filesize,
    ) -> FsResult<Resource<streams::InputStream>> {
        self.enter("filesystem.read-via-stream")?;
        fs::HostDescriptor::read_via_stream(&mut self.inner, fd, offset)
    }

    fn write_via_stream(
        &mut self,
        fd: Resource<fs::Descriptor>,
        offset: fs::Filesize,
    ) -> FsResult<Resource<streams::OutputStream>> {
        self.enter("filesystem.write-via-stream")?;
        let size = self.size_of(&fd)?;
        let stream = fs::HostDescriptor::write_via_stream(&mut self.inner, fd, offset)?;
        self.meter_stream(stream, Some(offset), size)
    }

    fn append_via_stream(
        &mut self,
        fd: Resource<fs::Descriptor>,
    ) -> FsResult<Resource<streams::OutputStream>> {
        self.enter("filesystem.append-via-stream")?;
        let size = self.size_of(&fd)?;
        let stream = fs::HostDescriptor::append_via_stream(&mut self.inner, fd)?;
        self.meter_stream(stream, None, size)
    }

    fn is_same_object(
        &mut self,
        a: Resource<fs::Descriptor>,
        b: Resource<fs::Descriptor>,
    ) -> wasmtime::Result<bool> {
        fs::HostDescriptor::is_same_object(&mut self.inner, a, b)
    }

    fn metadata_hash(&mut self, fd: Resource<fs::Descriptor>) -> FsResult<fs::MetadataHashValue> {
        self.enter("filesystem.metadata-hash")?;
        fs::HostDescriptor::metadata_hash(&mut self.inner, fd)
    }

    fn metadata_hash_at(
        &mut self,
        fd: Resource<fs::Descriptor>,
        path_flags: fs::PathFlags,
        path: String,
    ) -> FsResult<fs::MetadataHashValue> {
        self.enter("filesystem.metadata-hash-at")?;
        fs::HostDescriptor::metadata_hash_at(&mut self.inner, fd, path_flags, path)
    }
}

impl fs::HostDirectoryEntryStream for ScratchFs<'_> {
    fn read_directory_entry(
        &mut self,
        stream: Resource<fs::DirectoryEntryStream>,
    ) -> FsResult<Option<fs::DirectoryEntry>> {
        self.enter("filesystem.read-directory-entry")?;
        fs::HostDirectoryEntryStream::read_directory_entry(&mut self.inner, stream)
    }

    fn drop(&mut self, stream: Resource<fs::DirectoryEntryStream>) -> wasmtime::Result<()> {
        self.closed(stream.rep());
        fs::HostDirectoryEntryStream::drop(&mut self.inner, stream)
    }
}

/// Stands in for a stream for the instant it is being wrapped.
struct Placeholder;

#[wasmtime_wasi::async_trait]
impl OutputStream for Placeholder {
    fn write(&mut self, _: bytes::Bytes) -> StreamResult<()> {
        Err(StreamError::Closed)
    }
    fn flush(&mut self) -> StreamResult<()> {
        Err(StreamError::Closed)
    }
    fn check_write(&mut self) -> StreamResult<usize> {
        Err(StreamError::Closed)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Placeholder {
    async fn ready(&mut self) {}
}

/// A file's output stream whose writes are charged to the quota by how far they grow the
/// file: `position` is where the next write lands (`None` for append), `size` the largest
/// end known so far.
struct MeteredStream {
    inner: Box<dyn OutputStream>,
    quota: SharedQuota,
    position: Option<u64>,
    size: u64,
}

#[wasmtime_wasi::async_trait]
impl OutputStream for MeteredStream {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        let len = bytes.len() as u64;
        let start = self.position.unwrap_or(self.size);
        let end = start.saturating_add(len);
        let grow = end.saturating_sub(self.size);
        {
            let mut quota = lock(&self.quota);
            quota
                .check_deadline("wasi:io/streams.write (file)")
                .and_then(|()| {
                    quota.charge(grow, || {
                        format!("stream write of {len} bytes at offset {start}")
                    })
                })
                .map_err(|e| StreamError::Trap(e.trap()))?;
        }
        self.inner.write(bytes)?;
        self.size = self.size.max(end);
        if let Some(p) = self.position.as_mut() {
            *p = end;
        }
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        self.inner.flush()
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        self.inner.check_write()
    }

    async fn cancel(&mut self) {
        self.inner.cancel().await
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for MeteredStream {
    async fn ready(&mut self) {
        self.inner.ready().await
    }
}
