package io.paystream.sql;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import javax.security.sasl.AuthenticationException;
import org.apache.hive.service.auth.PasswdAuthenticationProvider;

/**
 * HiveServer2 CUSTOM authentication: one analyst account, whose name and password the
 * process receives in its environment (PAYSTREAM_SQL__USER, PAYSTREAM_SQL__PASSWORD).
 *
 * Both are compared as SHA-256 digests with MessageDigest.isEqual, so the time taken does
 * not reveal how much of a guess was right. No password means no login at all.
 */
public final class PasswordAuthenticator implements PasswdAuthenticationProvider {
  private final byte[] user = digest(System.getenv("PAYSTREAM_SQL__USER"));
  private final byte[] password = digest(System.getenv("PAYSTREAM_SQL__PASSWORD"));

  @Override
  public void Authenticate(String givenUser, String givenPassword) throws AuthenticationException {
    if (user == null || password == null) {
      throw new AuthenticationException("the SQL endpoint has no account configured");
    }
    boolean userOk = MessageDigest.isEqual(user, digest(givenUser == null ? "" : givenUser));
    boolean passwordOk =
        MessageDigest.isEqual(password, digest(givenPassword == null ? "" : givenPassword));
    if (!(userOk & passwordOk)) {
      throw new AuthenticationException("wrong user name or password");
    }
  }

  private static byte[] digest(String value) {
    if (value == null || value.isEmpty()) {
      return null;
    }
    try {
      return MessageDigest.getInstance("SHA-256").digest(value.getBytes(StandardCharsets.UTF_8));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
