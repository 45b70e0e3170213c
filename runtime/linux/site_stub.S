// __trapsan_site: the slow path of an instrumented site (the compiler
// plugin's inline asm, compiler-plugin/TrapsanPass.cpp):
//
//     subl $N, <countdown>; jg 1f; call *__trapsan_site@GOTPCREL(%rip); 2: ... 1:
//
// The call goes through the GOT, bound when the object is loaded, never
// through a lazily bound PLT entry: the dynamic linker's resolver would run
// before anything here and clobber live registers (r10, r11). It is
// an indirect call, so the stub starts with endbr64 (a nop without CET).
//
// The site's code makes no preparations for a call (its registers, flags,
// vector state are all live), so this saves everything, hands the saved
// general-purpose registers to __trapsan_site_slow (runtime/linux/sites.cpp),
// which reads the accesses' addresses out of them (and may rewrite a
// register-held countdown), and restores everything. Instrumented functions
// have no red zone (the plugin marks them), so the call cannot clobber one.
//
// __trapsan_label_resume is the same for label sites (labels.h): the SIGTRAP
// handler makes the interrupted thread "call" it from the label.
//
// Saved block, from its lowest address: r15 r14 r13 r12 r11 r10 r9 r8 rdi rsi
// rbx rdx rcx rax rflags rbp, then the return address (the site).
#if defined(__x86_64__)
        .macro SAVE_ALL_AND_CALL name, slow
        .text
        .globl  \name
        .type   \name,@function
        .p2align 4
\name:
        .cfi_startproc
        endbr64                         // reached by an indirect call
        pushq   %rbp                    // a frame record: unwinders walk
        .cfi_adjust_cfa_offset 8        // through to the site
        .cfi_offset %rbp, -16
        movq    %rsp, %rbp
        .cfi_def_cfa_register %rbp
        pushfq
        pushq   %rax
        pushq   %rcx
        pushq   %rdx
        pushq   %rbx
        .cfi_offset %rbx, -56
        pushq   %rsi
        pushq   %rdi
        pushq   %r8
        pushq   %r9
        pushq   %r10
        pushq   %r11
        pushq   %r12
        pushq   %r13
        pushq   %r14
        pushq   %r15
        movq    %rsp, %rbx              // the saved block (rbx survives calls)
        cld
        andq    $-64, %rsp
        movl    __trapsan_xsave_size(%rip), %eax
        testl   %eax, %eax
        jnz     .Lsized\@
        call    __trapsan_size_xsave    // first call (before constructors):
        movl    %eax, %eax              // general registers only
.Lsized\@:
        cmpl    $1, %eax
        je      .Lfxsave\@
        subq    %rax, %rsp              // xsave area, 64-byte aligned; its
        xorl    %eax, %eax              // header must start zeroed
        movq    %rax, 512(%rsp)
        movq    %rax, 520(%rsp)
        movq    %rax, 528(%rsp)
        movq    %rax, 536(%rsp)
        movq    %rax, 544(%rsp)
        movq    %rax, 552(%rsp)
        movq    %rax, 560(%rsp)
        movq    %rax, 568(%rsp)
        movl    $-1, %eax
        movl    $-1, %edx
        xsave64 (%rsp)
        movq    %rbx, %rdi
        call    \slow
        movl    $-1, %eax
        movl    $-1, %edx
        xrstor64 (%rsp)
        jmp     .Lrestore\@
.Lfxsave\@:
        subq    $512, %rsp
        fxsave64 (%rsp)
        movq    %rbx, %rdi
        call    \slow
        fxrstor64 (%rsp)
.Lrestore\@:
        movq    %rbx, %rsp
        popq    %r15
        popq    %r14
        popq    %r13
        popq    %r12
        popq    %r11
        popq    %r10
        popq    %r9
        popq    %r8
        popq    %rdi
        popq    %rsi
        popq    %rbx
        popq    %rdx
        popq    %rcx
        popq    %rax
        popfq
        popq    %rbp
        .cfi_def_cfa %rsp, 8
        ret
        .cfi_endproc
        .size   \name, .-\name
        .endm

        SAVE_ALL_AND_CALL __trapsan_site, __trapsan_site_slow
        // A label site's breakpoint handler pushed the label's address and
        // sent the thread here (runtime/linux/labels.cpp).
        SAVE_ALL_AND_CALL __trapsan_label_resume, __trapsan_label_slow
        // A release point found a window held (__trapsan_release_check, one
        // per object, jumps here: compiler-plugin/ReleasePoints.cpp); the
        // point may be anywhere, so everything is saved
        // (runtime/core/release.cpp).
        SAVE_ALL_AND_CALL __trapsan_release_all, __trapsan_release_slow
        // The same for a `ret`'s point (__trapsan_return_check; r10 holds
        // the function's return address).
        SAVE_ALL_AND_CALL __trapsan_return_all, __trapsan_return_slow
#endif
        .section .note.GNU-stack,"",@progbits
