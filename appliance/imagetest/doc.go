// Package imagetest checks a booted appliance image from the outside, the
// way a municipality's IT person meets it: first-boot setup with the code
// from the VM's console, then a ticket taken at a totem, called from a desk
// and shown on a display, all over the VM's HTTPS port. Its test runs only
// when scripts/image/image-test (make image-test) has booted an image and
// sets AVANTI_IMAGE_URL; elsewhere it skips.
package imagetest
