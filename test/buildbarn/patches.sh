# shellcheck shell=bash
# Source edits that `go build` needs but Buildbarn's Bazel build applies itself.
# Sourced by build.sh. Each function edits a writable copy of a module (never the
# module cache) and fails loudly if an expected line is not found, so a version
# bump that changes the sources cannot be silently half-patched.

# edit FILE PERL-SUBSTITUTION EXPECTED-COUNT
# Applies one perl substitution (with /g semantics handled by the caller) to the
# whole file and checks how many times it matched.
edit() {
	local file=$1 expr=$2 want=$3 got
	got=$(FILE_EXPR="$expr" perl -0777 -e '
		local $/; my $f = shift; open(my $in, "<", $f) or die "$f: $!";
		$_ = <$in>; close $in;
		my $n = eval "$ENV{FILE_EXPR}"; die $@ if $@;
		open(my $out, ">", $f) or die "$f: $!"; print $out $_; close $out;
		print $n + 0;' "$file")
	if [ "$got" != "$want" ]; then
		echo "patch: $file: expected $want match(es), got $got for: $expr" >&2
		return 1
	fi
}

# google.golang.org/genproto/googleapis/bytestream: bb_storage registers the
# ByteStream service on a grpc.ServiceRegistrar (its own gRPC server wrapper),
# but the generated Register function only accepts *grpc.Server. Widen the
# parameter to the interface that *grpc.Server already implements.
patch_bytestream() {
	local dir=$1
	edit "$dir/bytestream.pb.go" \
		's/^func RegisterByteStreamServer\(s \*grpc\.Server, /func RegisterByteStreamServer(s grpc.ServiceRegistrar, /mg' 1
}

# github.com/hanwen/go-fuse/v2 v2.5.1, package fuse only (the only package of it
# that bb-remote-execution imports; go-fuse's own fs/ and fuse/nodefs/ packages
# are left untouched and no longer compile against the changed interface, which
# does not matter because nothing we build imports them).
# bb-remote-execution of March 2026 was written against a go-fuse with:
#  1. READDIR/READDIRPLUS entries whose d_off is chosen by the file system
#     (AddDirEntry/AddDirLookupEntry take an offset), with RawFileSystem taking
#     small interfaces instead of *DirEntryList so that calls can be wrapped;
#  2. RawFileSystem.Init receiving an interface for the kernel notification
#     calls instead of *Server;
#  3. a MountOptions.EnableWritebackCache switch.
patch_gofuse() {
	local d=$1/fuse
	# (1) explicit directory offsets.
	edit "$d/direntry.go" \
		's/^func \(l \*DirEntryList\) AddDirEntry\(e DirEntry\) bool \{\n\treturn l\.Add\(0, e\.Name, e\.Ino, e\.Mode\)\n\}/func (l *DirEntryList) AddDirEntry(e DirEntry, off uint64) bool {\n\treturn l.addAt(0, e.Name, e.Ino, e.Mode, off)\n}/mg' 1
	edit "$d/direntry.go" \
		's/^(func \(l \*DirEntryList\) Add\(prefix int, name string, inode uint64, mode uint32\) bool \{\n)/$1\treturn l.addAt(prefix, name, inode, mode, l.offset+1)\n}\n\n\/\/ addAt is Add with the d_off of the new entry given by the caller.\nfunc (l *DirEntryList) addAt(prefix int, name string, inode uint64, mode uint32, off uint64) bool {\n/mg' 1
	edit "$d/direntry.go" 's/\tdirent\.Off = l\.offset \+ 1\n/\tdirent.Off = off\n/g' 1
	edit "$d/direntry.go" \
		's/AddDirLookupEntry\(e DirEntry\) \*EntryOut \{/AddDirLookupEntry(e DirEntry, off uint64) *EntryOut {/g' 1
	edit "$d/direntry.go" \
		's/ok := l\.Add\(entryOutSize, e\.Name, e\.Ino, e\.Mode\)/ok := l.addAt(entryOutSize, e.Name, e.Ino, e.Mode, off)/g' 1
	edit "$d/api.go" 's/(\tReadDir\(cancel <-chan struct\{\}, input \*ReadIn, out )\*DirEntryList\)/$1ReadDirEntryList)/g' 1
	edit "$d/api.go" 's/(\tReadDirPlus\(cancel <-chan struct\{\}, input \*ReadIn, out )\*DirEntryList\)/$1ReadDirPlusEntryList)/g' 1
	edit "$d/defaultraw.go" 's/(\) ReadDir\(cancel <-chan struct\{\}, input \*ReadIn, l )\*DirEntryList\)/$1ReadDirEntryList)/g' 1
	edit "$d/defaultraw.go" 's/(\) ReadDirPlus\(cancel <-chan struct\{\}, input \*ReadIn, l )\*DirEntryList\)/$1ReadDirPlusEntryList)/g' 1
	# (2) notification callbacks behind an interface (*Server satisfies it).
	edit "$d/api.go" 's/^\tInit\(\*Server\)$/\tInit(ServerCallbacks)/mg' 1
	edit "$d/defaultraw.go" 's/\) Init\(\*Server\) \{/) Init(ServerCallbacks) {/g' 1
	# (3) writeback cache, requested only when the kernel offers it.
	edit "$d/api.go" \
		's/^(\tSyncRead bool\n)/$1\n\t\/\/ EnableWritebackCache asks the kernel to cache writes (FUSE writeback\n\t\/\/ cache mode) instead of sending each write through immediately.\n\tEnableWritebackCache bool\n/mg' 1
	edit "$d/opcode.go" \
		's/^(\tdataCacheMode := input\.Flags & CAP_AUTO_INVAL_DATA\n)/\tif server.opts.EnableWritebackCache && input.Flags&CAP_WRITEBACK_CACHE != 0 {\n\t\tserver.kernelSettings.Flags |= CAP_WRITEBACK_CACHE\n\t}\n\n$1/mg' 1
	cat >"$d/rules_nixstore_api.go" <<'EOF'
package fuse

// Added by rules_nixstore's test/buildbarn/patches.sh (see its comments).

// ServerCallbacks is the part of *Server that a RawFileSystem uses to talk
// back to the kernel; an interface so that it can be wrapped or faked.
type ServerCallbacks interface {
	DeleteNotify(parent uint64, child uint64, name string) Status
	EntryNotify(parent uint64, name string) Status
	InodeNotify(node uint64, off int64, length int64) Status
	InodeRetrieveCache(node uint64, offset int64, dest []byte) (n int, st Status)
	InodeNotifyStoreCache(node uint64, offset int64, data []byte) Status
}

// ReadDirEntryList receives the entries of a READDIR reply.
type ReadDirEntryList interface {
	AddDirEntry(e DirEntry, off uint64) bool
	FixMode(mode uint32)
}

// ReadDirPlusEntryList receives the entries of a READDIRPLUS reply.
type ReadDirPlusEntryList interface {
	AddDirLookupEntry(e DirEntry, off uint64) *EntryOut
	FixMode(mode uint32)
}

var (
	_ ServerCallbacks      = (*Server)(nil)
	_ ReadDirEntryList     = (*DirEntryList)(nil)
	_ ReadDirPlusEntryList = (*DirEntryList)(nil)
)
EOF
}
