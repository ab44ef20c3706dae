/* Reset for the MPS2 board under QEMU: .data copied, .bss zeroed, the FPU enabled, semihosting
 * set up (newlib's librdimon), main run, its status handed to the host (semihosting exit). */
#include <stdlib.h>
extern char __etext[], __data_start[], __data_end[], __bss_start[], __bss_end[], __stack_top[];
extern int main(void);
extern void initialise_monitor_handles(void);
void reset_handler(void);
static void fault(void) { exit(99); }
__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))__stack_top, reset_handler, fault, fault, fault, fault, fault};
void reset_handler(void) {
    char *s = __etext, *d = __data_start;
    while (d < __data_end) *d++ = *s++;
    for (d = __bss_start; d < __bss_end;) *d++ = 0;
    *(volatile unsigned *)0xE000ED88 |= 0xFu << 20; /* CPACR: CP10, CP11 full access (the FPU) */
    __asm volatile("dsb\n isb");
    initialise_monitor_handles();
    exit(main());
}
void _init(void);
void _fini(void);
void _init(void) {}
void _fini(void) {}
