//! The core's allocator (mimalloc, the `#[global_allocator]` of the library, so of this test
//! binary too) is built without transparent huge pages: see Cargo.toml's `no_thp` line.

/// Kilobytes of `AnonHugePages` in the mapping of /proc/self/smaps that holds `addr`.
fn huge_kb_at(addr: usize) -> Option<u64> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
    let mut inside = false;
    for line in smaps.lines() {
        let range = line.split_once(' ').and_then(|(r, _)| r.split_once('-'));
        if let Some((Ok(lo), Ok(hi))) =
            range.map(|(lo, hi)| (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16)))
        {
            inside = lo <= addr && addr < hi;
        } else if let Some(kb) = line.strip_prefix("AnonHugePages:").filter(|_| inside) {
            return kb.trim().trim_end_matches("kB").trim().parse().ok();
        }
    }
    None
}

#[test]
#[cfg(target_os = "linux")]
fn core_memory_is_not_backed_by_huge_pages_where_the_system_leaves_it_to_the_program() {
    // Under the kernel's `always` setting every program gets them; under `madvise` (the usual
    // default) only memory advised for them, which mimalloc built with THP would do for its arenas.
    let setting = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled");
    if !setting.is_ok_and(|s| s.contains("[madvise]")) {
        return;
    }
    // llmrail is linked in, so its #[global_allocator] serves this test's allocations.
    let _ = llmrail::ErrorKind::Timeout;
    // 64 MiB touched page by page: with mimalloc's default all of it was huge pages (measured).
    let mut big = vec![0u8; 64 << 20];
    for b in big.iter_mut().step_by(4096) {
        *b = 1;
    }
    let huge_kb = huge_kb_at(big.as_ptr() as usize).unwrap_or(0);
    assert!(huge_kb < 2 << 10, "{huge_kb} kB of huge pages");
    assert_eq!(big.iter().step_by(4096).filter(|b| **b == 1).count(), 16384);
}
