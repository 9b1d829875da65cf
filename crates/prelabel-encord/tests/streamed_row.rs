//! A million-object label row is written without a second copy of it in memory.
//!
//! Alone in its test binary, so the process's resident set is this test's: the resident
//! high-water mark is reset (`/proc/self/clear_refs`) after the row is built and read back after
//! it is written. A counting allocator gives the exact live heap of the builder and of the
//! materialised `LabelRow` for comparison.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

mod long_video;

use long_video::{BOXES_PER_FRAME, FRAMES, frame_detections, new_builder, ontology_and_map};
use prelabel_encord::{ClassMap, LabelRowBuilder, Ontology};

/// The system allocator, counting the bytes currently allocated.
struct CountingAllocator;

static LIVE_HEAP_BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; only a counter is updated besides.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_HEAP_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_HEAP_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_HEAP_BYTES.fetch_add(new_size, Ordering::Relaxed);
        LIVE_HEAP_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// The most the resident high-water mark may grow while the row is written.
const MAX_WRITE_GROWTH_BYTES: u64 = 32 << 20;
const MIB: f64 = (1 << 20) as f64;

/// A `/proc/self/status` field in bytes (`VmRSS`, `VmHWM`).
fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"));
    kib * 1024
}

/// Resets the resident high-water mark to the current resident set; false where the kernel
/// does not allow it.
fn reset_high_water_mark() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// A builder holding the first `frames` frames of the long video.
fn build<'a>(ontology: &'a Ontology, map: &'a ClassMap, frames: u64) -> LabelRowBuilder<'a> {
    let mut builder = new_builder(ontology, map);
    builder.add_frames(&(0..frames).map(frame_detections).collect::<Vec<_>>());
    builder
}

#[test]
fn a_million_object_row_is_streamed_to_a_file_without_a_second_copy_in_memory() {
    if !reset_high_water_mark() {
        eprintln!(
            "SKIPPED: /proc/self/clear_refs is not writable here, so the resident high-water mark cannot be reset and nothing was measured"
        );
        return;
    }
    let (ontology, map) = ontology_and_map();

    let (rss_before, heap_before) = (status_bytes("VmRSS"), LIVE_HEAP_BYTES.load(Ordering::Relaxed));
    let builder = build(&ontology, &map, FRAMES);
    let (rss_built, builder_heap) = (status_bytes("VmRSS"), LIVE_HEAP_BYTES.load(Ordering::Relaxed) - heap_before);
    let objects = FRAMES * BOXES_PER_FRAME as u64;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("row.json");
    assert!(reset_high_water_mark());
    let hwm_at_reset = status_bytes("VmHWM");
    builder.write_json_atomically(&path).unwrap();
    let write_growth = status_bytes("VmHWM").saturating_sub(hwm_at_reset);
    let file_size = std::fs::metadata(&path).unwrap().len();
    drop(builder);

    // What the materialised model takes, from a tenth of the row.
    let subset = build(&ontology, &map, FRAMES / 10);
    let heap_before_finish = LIVE_HEAP_BYTES.load(Ordering::Relaxed);
    let row = subset.finish();
    let subset_row_heap = LIVE_HEAP_BYTES.load(Ordering::Relaxed) - heap_before_finish;
    drop(row);

    eprintln!("{objects} objects: JSON file {:.1} MiB", file_size as f64 / MIB);
    eprintln!(
        "builder: resident set +{:.1} MiB while building, live heap {:.1} MiB ({:.0} bytes an object)",
        rss_built.saturating_sub(rss_before) as f64 / MIB,
        builder_heap as f64 / MIB,
        builder_heap as f64 / objects as f64,
    );
    eprintln!(
        "materialised LabelRow (finish()): live heap {:.1} MiB for {} objects, about {:.0} MiB for {objects} ({:.0} bytes an object)",
        subset_row_heap as f64 / MIB,
        objects / 10,
        subset_row_heap as f64 * 10.0 / MIB,
        subset_row_heap as f64 / (objects / 10) as f64,
    );
    eprintln!("streaming write: resident high-water mark +{:.1} MiB", write_growth as f64 / MIB);

    assert!(file_size > 200 << 20, "the row's JSON is hundreds of MiB, not {file_size} bytes");
    assert!(
        write_growth < MAX_WRITE_GROWTH_BYTES,
        "writing grew the resident set by {:.1} MiB: a second copy of the row was held",
        write_growth as f64 / MIB
    );
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.starts_with(br#"{"label_hash":"5e1b3c1e-"#) && bytes.ends_with(b"}"));
}
