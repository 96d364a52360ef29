/**
 * The operator API ({@code sluice.admin.v1.AdminService}): the logic behind the plain {@link
 * dev.sluice.controlplane.admin.AdminService} interface, the thin gRPC translation in {@link
 * dev.sluice.controlplane.admin.AdminServiceImpl}, and admin authentication.
 */
@NullMarked
package dev.sluice.controlplane.admin;

import org.jspecify.annotations.NullMarked;
