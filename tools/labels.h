/* The 1000 ImageNet class names (tools/data/imagenet_classes.txt, embedded in
 * the program at build time). */
#ifndef CLN_LABELS_H
#define CLN_LABELS_H

/* The name of class index (0..999), e.g. 281 -> "tabby"; "?" if out of range. */
const char *imagenet_label(int index);

#endif
